// Package lap solves the linear assignment problem exactly: given a dense
// n×m cost matrix with n ≤ m, it assigns every row a distinct column so that
// the total cost is minimal (or maximal, with Options.Maximize).
//
// Weight matching calls it once per permutation group per sweep on matrices
// up to 4096×4096, so it is built for speed on CPUs:
//
//   - The algorithm is Jonker–Volgenant: column reduction with reduction
//     transfer (square problems), two passes of augmenting row reduction,
//     then one shortest augmenting path (Dijkstra on reduced costs) per
//     remaining free row. Every arithmetic step is float64; float32 costs are
//     widened exactly when the matrix is read.
//   - The two O(m) scans that dominate, the minimum and second minimum of a
//     row's reduced costs and the fused Dijkstra update plus search for the
//     next column, run in the AVX-512 or AVX2 kernels of package asm
//     (asm.LapScan, asm.LapMin2), with the pure-Go twins as fallback. A
//     Solver carries the path; the package-level functions use
//     asm.Selected().
//   - Among columns at equal distance the search prefers a free one, which
//     ends an augmentation early on problems full of ties (integer costs,
//     low-rank products).
//
// Data flow: the caller's matrix is validated (NaN is an error naming the
// row and column; +Inf, or −Inf when maximising, marks a forbidden pair;
// magnitudes that could overflow the dual arithmetic are refused), then used
// in place when it is float64 and minimised, or copied once (negated when
// maximising, widened when float32). The solver keeps column duals v and
// the assignment; row duals are u[i] = c[i][x[i]] − v[x[i]]. The Result
// carries both, so a caller can check optimality: every reduced cost
// c'[i][j] − u[i] − v[j] is ≥ 0 (up to rounding) and 0 on the assignment,
// where c' is the cost, negated when maximising. For n < m every v[j] ≤ 0
// and v[j] = 0 on the unassigned columns, which makes Σu + Σv a lower bound
// on every assignment.
//
// Warm start: Options.ColDual (and Options.RowToCol) from the previous
// solve of a slowly changing matrix. The duals are made feasible for the
// new matrix, every warm pair that is still a row minimum of the reduced
// costs is kept, and only the remaining rows are augmented.
package lap
