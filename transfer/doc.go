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
//     Trajectory and returns a Report; RunMany does the same for many
//     targets at once, computing what does not depend on the target (the
//     points, their gradient batches, the source gradients and their
//     low-rank bases, the validation and BN batches) once for all of them.
//   - Ensemble scores the ensemble of several parameter sets (mean of
//     their softmax outputs, pairwise disagreement); EnsembleOfLogits does
//     so from logits already computed, such as the best point's logits a
//     transfer keeps with Options.KeepBestLogits, without a forward pass.
//
// # Repaired transfer
//
// Options.Repair (CLI --repair) renormalises every transferred point
// before it is evaluated and handed over: each hidden unit's pre-activation
// is rescaled and shifted to the mean and deviation that the same unit of
// the permuted source point π(θ₁ˢ) has on a few fixed training batches
// (nn.Repair, after REPAIR for merged networks, Jordan et al. 2023). The sum
// θ₂⁰ + π(θ₁ˢ − θ₁⁰) adds a trained update to weights it was not trained
// with, and its units' activations drift in scale layer after layer; the
// renormalisation puts them back where the source's are. The permutations
// are the method's own and unchanged. On Conv8 ×0.25 / CIFAR-10 it lifts
// GMT from 34 % to 62 % (mean of three seed pairs, docs/results.md) for
// about an eighth more time; on the bias-free linear MNIST MLP it changes
// little; models with BN already recompute their statistics at every point
// and refuse it.
//
// # Selected permutations
//
// Options.SelectPerms (CLI --select-perms) keeps GMT's or FGMT's search as
// it is but chooses which of its permutations each point uses: after step
// s, every permutation found so far has been scored by the training loss
// of the whole transfer it would make, the endpoint θ₂⁰ + π(θ₁ᵀ − θ₁⁰)
// (BN statistics recomputed, on SelectBatches fixed training batches), and
// point s is θ₂⁰ + π*(θ₁ˢ − θ₁⁰) with π* the one of lowest loss so far. On
// ResNet-20 GMT's permutation keeps moving to the end, and its successive
// permutations transfer to networks several points of accuracy apart; the
// endpoint's training loss ranks them nearly as the validation set does.
// The cost is one forward pass of the select and BN batches per distinct
// permutation (docs/results.md, experiment 4).
//
// # Threads and memory
//
// A transfer spends two resources: the engine's threads and model
// workspaces (the activation buffers of one forward/backward pass, hundreds
// of MB for a ResNet at batch 128). One scheduler per call hands both out:
// every phase of every target (gradients, assignment problems, evaluation)
// takes the threads that are free when it starts, so a target's
// single-threaded assignment problems run beside another target's
// gradients or the evaluation of earlier points. At most Options.Workers
// models exist whatever the thread count, and a second or later one only
// while the workspaces fit Options.WorkspaceMemory (1 GiB by default: one
// ResNet-20 ×1 workspace, whose jobs then run with every free thread).
// Results do not depend on either: the same options give the same points,
// permutations and report on any number of threads and workers, alone or
// in RunMany.
//
// # Concurrency and errors
//
// Run and RunMany may be called from several goroutines at once; each call
// owns its state. A Matcher is not safe for concurrent use; Spec, Perms and
// Trajectory values are read-only once built and may be shared. A panic in
// code the transfer calls (a caller's Model, Dataset, Trajectory or
// callback) is recovered and returned as a *PanicError; a target of RunMany
// that fails comes back as a *TargetError; cancellation returns the
// context's error (errors.Is(err, context.Canceled)).
//
// The package never prints and holds no global state: progress goes through
// Options.Progress and cancellation through the context.
//
// # Example
//
// The package example (Example in example_test.go; run it with
// go test -run '^Example$' -v ./transfer) trains a small MLP from seed 1,
// takes the straight line from its initialisation to its trained weights
// as the source trajectory, and transfers it onto the seed-2
// initialisation with GMT:
//
//	traj, err := transfer.Linear(src0, src1, 5, transfer.Cosine)
//	…
//	rep, err := transfer.Run(ctx, transfer.Options{
//		Method: transfer.GMT, NewModel: newModel, Source: traj,
//		TargetInit: m.Init(2), Train: data, Val: data,
//		BatchSize: 64, Seed: 1, Engine: e,
//	})
//	// rep.Steps[t].ValAcc: accuracy along the transferred trajectory;
//	// rep.BestStep, rep.BestValAcc: its best point (rep.BestParams with KeepBest)
package transfer
