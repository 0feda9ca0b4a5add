// Package lap solves the linear assignment problem exactly: given a dense
// n×m cost matrix with n ≤ m, it assigns every row a distinct column so that
// the total cost is minimal (or maximal, with Options.Maximize).
//
// Weight matching calls it once per permutation group per sweep on matrices
// up to 4096×4096, so it is built for speed on CPUs (figures in
// bench/RESULTS.md, Linear assignment):
//
//   - The algorithm is Jonker–Volgenant: column reduction with reduction
//     transfer (square problems), two passes of augmenting row reduction,
//     then one shortest augmenting path (Dijkstra on reduced costs) per
//     remaining free row. Every arithmetic step is float64; a float32
//     matrix stays float32 in memory and is widened exactly in the kernels.
//   - The O(m) scans run in the AVX-512 or AVX2 kernels of package asm
//     (asm.LapScan: fused Dijkstra update and search for the next column;
//     asm.LapMin2: smallest and second-smallest reduced cost;
//     asm.LapExpand: relax a whole row and gather its cheapest columns;
//     asm.LapCheck: input validation), with the pure-Go twins as fallback
//     and oracle. A Solver carries the path; the package-level functions use
//     asm.Selected().
//   - When the matrix outgrows the last-level cache, every row keeps a list
//     of its 16 cheapest columns and a lower bound for the others, and the
//     searches visit lists instead of rows, reading a row in full only when
//     the search reaches its bound (sparse.go). This is exact: a column is
//     settled only when no row could still lower its distance.
//   - Among columns at equal distance the search prefers a free one, which
//     ends an augmentation early; integer matrices full of ties skip the
//     initialisation and the lists altogether (plain shortest augmenting
//     paths do best there).
//
// Data flow: the caller's matrix is validated (NaN is an error naming the
// row and column; +Inf, or −Inf when maximising, marks a forbidden pair;
// magnitudes that could overflow the dual arithmetic are refused), then used
// in place when minimising, or copied once, negated, when maximising. The
// solver keeps column duals v and the assignment; row duals are
// u[i] = c[i][x[i]] − v[x[i]]. The Result carries both, so a caller can
// check optimality: every reduced cost c'[i][j] − u[i] − v[j] is ≥ 0 (up to
// rounding) and 0 on the assignment, where c' is the cost, negated when
// maximising. For n < m every v[j] ≤ 0 and v[j] = 0 on the unassigned
// columns, which makes Σu + Σv a lower bound on every assignment.
//
// Warm start: Options.ColDual (and Options.RowToCol) from the previous
// solve of a slowly changing matrix. The duals are made feasible for the
// new matrix, every warm pair that is still a row minimum of the reduced
// costs is kept, and only the remaining rows are augmented (4.8× less time
// on a sequence of rank-10 2048² matrices; little on uniform ones).
//
// A Solver reuses its buffers (including the negated copy of a maximised
// matrix) from one call to the next; the package-level functions allocate
// afresh. Result.Stats counts the work of each phase.
//
// Threads: the phases that treat rows independently and read the whole
// matrix (the warm start's check of every pair, building the candidate
// lists) split the rows over the goroutines Options.Parallel grants when
// the matrix has at least 2^20 entries; each row's result depends on the
// row alone, so the outcome is the same for any grant. Two goroutines
// take 26–29 % off warm-started solves of slowly changing low-rank float32
// matrices at n = 2048 and 4096 (BenchmarkWarmParallel); the row
// reduction and augmentations that remain are sequential.
//
// Concurrency: the package-level functions may be called from any number
// of goroutines; a Solver may not (one per goroutine). Options are only
// read. Errors: infeasible problems wrap ErrInfeasible, cancelled solves
// wrap ctx's error (errors.Is(err, context.Canceled)).
package lap
