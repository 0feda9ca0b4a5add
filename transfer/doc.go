// Package transfer transfers learning trajectories between neural networks
// (Chijiwa et al., "Transferring Learning Trajectories of Neural Networks",
// arXiv 2305.14122): given the trajectory θ₁⁰ … θ₁ᵀ of a source network and a
// new initialisation θ₂⁰, it finds permutations π of the hidden units so that
// θ₂ˢ = θ₂⁰ + π(θ₁ˢ − θ₁⁰) is a good trajectory for the target, without
// training it.
//
// Data flows through four layers:
//
//   - A Spec maps every axis of every parameter tensor to a permutation group
//     or to none (the git-re-basin notion). Built-in specs are derived from a
//     model's state_dict (BuiltinSpec); custom models load a JSON spec
//     (ParseSpec). Spec.Validate checks it against a checkpoint.
//   - Perms holds one permutation per group; Apply permutes a parameter set
//     (out[…i…] = in[…π[i]…] along every grouped axis), Perms.Inverse undoes it.
//   - A Matcher solves weight matching: it keeps (target, source) pairs of
//     parameter-shaped tensors with coefficients and maximises
//     Σ c·⟨T, π(S)⟩ by coordinate descent over the groups, each step one
//     linear assignment problem whose cost matrix is built with the kernels'
//     GEMM and solved with package lap.
//   - Run drives a whole transfer (GMT, FGMT, Naive, Oracle) along a source
//     Trajectory streamed one point at a time, computing gradient pairs
//     concurrently on per-worker models, and returns a Report.
//
// The package never prints and holds no global state: progress goes through
// Options.Progress and cancellation through the context.
package transfer
