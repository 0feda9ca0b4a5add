# Does gradient matching prefer the permutation that transfers best? (docs/results.md,
# experiment 1), numpy only.
#
#   /usr/bin/python3 bench/conv8_gm_objective.py LTRANSFER SRC_DIR TGT_DIR PAIR_DIR [T] [N]
#
# SRC_DIR and TGT_DIR are `ltransfer train` trajectories, PAIR_DIR holds the transfers
# gmt/, fgmt/ and oracle/ of bench/reproduce.sh (their perms.json). For each candidate
# permutation pi (the identity, i.e. Naive, and the final permutations of GMT, FGMT and
# Oracle) it evaluates GMT's objective along the linear cosine-spaced trajectory,
#
#   F(pi) = sum_t < grad L(theta2^0 + lambda_t pi(Delta1)), pi(grad L(theta1^0 + lambda_t Delta1)) >,
#
# on one batch of N (default 256) CIFAR-10 training images, every gradient computed by
# `LTRANSFER grad`; also the same sum with each pair as a cosine (--normalize's objective)
# and the mean loss of the transferred points. The point theta2 depends on pi, so F is the
# fixed-point objective GMT's iteration aims at. If Oracle's permutation (which transfers best) scored higher than
# GMT's, GMT's search would be at fault; if it scores lower, the objective itself prefers
# permutations that transfer worse.
import math, os, sys
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv8_planted import LAYERS, ends, load, permute, read_perms, save, width_factor  # noqa: E402
from conv8_gm_ties import batch, grad, objective  # noqa: E402


def lambdas(T):
    """nn.InterpLambdas(T, cosine): step t proportional to 1 + cos(pi t / T)."""
    w = [1 + math.cos(math.pi * t / T) for t in range(T)]
    z, acc, lam = sum(w), 0.0, [0.0]
    for t in range(1, T):
        acc += w[t - 1]
        lam.append(acc / z)
    return lam + [1.0]


def norm(g):
    return math.sqrt(sum(float((v.astype(np.float64) ** 2).sum()) for v in g.values()))


def main():
    if len(sys.argv) < 5:
        sys.exit('usage: conv8_gm_objective.py LTRANSFER SRC_DIR TGT_DIR PAIR_DIR [T] [N]')
    lt, srcd, tgtd, pd = sys.argv[1:5]
    T = int(sys.argv[5]) if len(sys.argv) > 5 else 30
    n = int(sys.argv[6]) if len(sys.argv) > 6 else 256
    tar = os.environ.get('CIFAR', os.path.join(os.path.dirname(__file__), '../../shared/data/cifar10-jpeg.tar'))
    tmp = os.environ.get('TMPDIR', '/tmp')
    bpath = os.path.join(tmp, 'conv8_gmo_batch.safetensors')
    batch(tar, n, bpath)
    s0, sT, meta = ends(srcd)
    t0, _, _ = ends(tgtd)
    wf = width_factor(s0)
    delta = {k: sT[k] - s0[k] for k in s0}
    lam = lambdas(T)[:T]  # GMT's last step matches the pairs at points 0 … T−1
    cands = {'identity (Naive)': [np.arange(s0[L + '.weight'].shape[0]) for L in LAYERS]}
    for m in ['gmt', 'fgmt', 'oracle']:
        p = os.path.join(pd, m, 'perms.json')
        if os.path.exists(p):
            cands[m] = read_perms(p)
    for e in os.environ.get('EXTRA_PERMS', '').split():  # NAME=PERMS_JSON ...
        name, p = e.split('=', 1)
        cands[name] = read_perms(p)
    ppath, gpath = os.path.join(tmp, 'conv8_gmo_p.safetensors'), os.path.join(tmp, 'conv8_gmo_g.safetensors')
    g1, n1 = [], []  # source gradients and their norms (a permutation keeps the norm)
    for l in lam:
        save(ppath, {k: s0[k] + np.float32(l) * delta[k] for k in s0}, meta)
        g1.append(grad(lt, ppath, bpath, gpath, wf))
        n1.append(norm(g1[-1]))
    print('pi                 F(pi), %d points  last 10     first %d    cosine sum  mean loss' % (T, T - 10))
    for name, perms in cands.items():
        pd_ = permute(delta, perms)
        f, c, loss = [], [], []
        for l, g, gn in zip(lam, g1, n1):
            save(ppath, {k: t0[k] + np.float32(l) * pd_[k] for k in t0}, meta)
            g2 = grad(lt, ppath, bpath, gpath, wf)
            loss.append(float(load(gpath)[0]['loss'].reshape(-1)[0]))
            dot = objective(g, g2, perms)
            f.append(dot)
            c.append(dot / max(gn * norm(g2), 1e-300))
        print('%-17s  %.4e       %.4e  %.4e  %8.3f    %.3f' % (name, sum(f), sum(f[-10:]), sum(f[:-10]), sum(c), np.mean(loss)))
        sys.stdout.flush()


if __name__ == '__main__':
    main()
