# Step-one gradient-matching check for the planted Conv8 experiment (docs/results.md,
# experiment 1), numpy + scipy.
#
#   /usr/bin/python3 bench/conv8_planted.py plant SRC/ckpt-0000.safetensors planted.safetensors
#   /usr/bin/python3 bench/conv8_gm_ties.py LTRANSFER SRC/ckpt-0000.safetensors planted.safetensors [N]
#
# It draws N (default 256) CIFAR-10 training images (numpy seed 0), has `LTRANSFER grad`
# compute the Conv8 gradient (width from the checkpoint) at the source initialisation and
# at the planted one, and prints:
#   - how far the planted gradient is from pi*(source gradient) (it must be rounding only);
#   - per layer, how many units have a zero gradient on the batch (dead ReLUs);
#   - the objective sum <g2, pi(g1)> at pi* and at what coordinate descent over the
#     permutation groups (one assignment problem per group, scipy's
#     linear_sum_assignment) finds from the identity, and the units it puts where pi* did.
# If the search reaches pi*'s objective while missing units, those units are ties: their
# gradient carries no information about which unit is which.
import io, json, os, struct, subprocess, sys, tarfile
import numpy as np
from PIL import Image
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv8_planted import LAYERS, load, permute, planted, width_factor  # noqa: E402

CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']


def batch(tar, n, path):
    rng = np.random.default_rng(0)
    tf = tarfile.open(tar)
    mem = [m for m in tf.getmembers() if m.name.startswith('train/') and m.name.endswith('.jpg')]
    xs, ys = [], []
    for i in rng.choice(len(mem), n, replace=False):
        m = mem[i]
        img = Image.open(io.BytesIO(tf.extractfile(m).read())).convert('RGB')
        xs.append(np.asarray(img, dtype=np.float32) / 255)
        ys.append(CLASSES.index(m.name.split('/')[1]))
    x = np.stack(xs).transpose(0, 3, 1, 2)
    x = (x - np.array([0.4914, 0.4822, 0.4465], np.float32)[None, :, None, None]) / \
        np.array([0.2470, 0.2435, 0.2616], np.float32)[None, :, None, None]
    x = x.astype(np.float32)
    y = np.array(ys, np.int64)
    h = {'x': {'dtype': 'F32', 'shape': list(x.shape), 'data_offsets': [0, x.nbytes]},
         'y': {'dtype': 'I64', 'shape': [n], 'data_offsets': [x.nbytes, x.nbytes + y.nbytes]}}
    hj = json.dumps(h).encode()
    hj += b' ' * ((8 - len(hj) % 8) % 8)
    open(path, 'wb').write(struct.pack('<Q', len(hj)) + hj + x.tobytes() + y.tobytes())


def grad(lt, params, bpath, out, wf):
    subprocess.run([lt, 'grad', '--model', 'conv8', '--width-factor', wf, '--params', params,
                    '--input', bpath, '--out', out, '--threads', '1'], check=True, stdout=subprocess.DEVNULL)
    g, _ = load(out)
    g.pop('loss', None)
    return g


def objective(g1, g2, perms):
    p = permute(g1, perms)
    return sum(float((g2[k].astype(np.float64) * p[k]).sum()) for k in g2)


def descend(g1, g2, perms, seed):
    perms = [p.copy() for p in perms]
    rng = np.random.default_rng(seed)
    for sweep in range(100):
        changed = False
        for i in rng.permutation(len(LAYERS)):
            n = len(perms[i])
            w1, w2 = g1[LAYERS[i] + '.weight'], g2[LAYERS[i] + '.weight']
            if i > 0:
                w1 = w1[:, perms[i - 1]]
            c = w2.reshape(n, -1).astype(np.float64) @ w1.reshape(n, -1).T.astype(np.float64)
            c += np.outer(g2[LAYERS[i] + '.bias'], g1[LAYERS[i] + '.bias'])
            nxt = LAYERS[i + 1] if i + 1 < len(LAYERS) else 'linear.4'
            v1, v2 = g1[nxt + '.weight'], g2[nxt + '.weight']
            if i + 1 < len(LAYERS):
                v1 = v1[perms[i + 1]]
            c += np.moveaxis(v2, 1, 0).reshape(n, -1).astype(np.float64) @ \
                np.moveaxis(v1, 1, 0).reshape(n, -1).T.astype(np.float64)
            _, col = linear_sum_assignment(c, maximize=True)
            old, new = c[np.arange(n), perms[i]].sum(), c[np.arange(n), col].sum()
            if new > old + 1e-9 * abs(old):
                perms[i], changed = col, True
        if not changed:
            return perms, sweep + 1
    return perms, 100


def main():
    if len(sys.argv) < 4:
        sys.exit('usage: conv8_gm_ties.py LTRANSFER SRC_CKPT PLANTED_CKPT [N]')
    lt, src, pl = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    tar = os.environ.get('CIFAR', os.path.join(os.path.dirname(__file__), '../../shared/data/cifar10-jpeg.tar'))
    tmp = os.environ.get('TMPDIR', '/tmp')
    bpath = os.path.join(tmp, 'conv8_gm_ties_batch.safetensors')
    batch(tar, n, bpath)
    wf = width_factor(load(src)[0])
    g1 = grad(lt, src, bpath, os.path.join(tmp, 'conv8_gm_ties_g1.safetensors'), wf)
    g2 = grad(lt, pl, bpath, os.path.join(tmp, 'conv8_gm_ties_g2.safetensors'), wf)
    sizes = [g1[name + '.weight'].shape[0] for name in LAYERS]
    star = planted(sizes)
    ps = permute(g1, star)
    err = max(np.linalg.norm(ps[k] - g2[k]) / max(np.linalg.norm(g2[k]), 1e-30) for k in g2)
    print('planted gradient vs pi*(source gradient): max relative difference per tensor %.1e' % err)
    print('layer units zero-gradient-units')
    for i, name in enumerate(LAYERS):
        rows = np.linalg.norm(g1[name + '.weight'].reshape(sizes[i], -1), axis=1)
        print('%s %d %d' % (name, sizes[i], int((rows == 0).sum())))
    print('objective at pi*: %.6e, at the identity: %.6e' % (objective(g1, g2, star), objective(g1, g2, [np.arange(s) for s in sizes])))
    for seed in range(3):
        p, sweeps = descend(g1, g2, [np.arange(s) for s in sizes], seed)
        rec = ' '.join('%.0f' % (100 * np.mean(a == b)) for a, b in zip(p, star))
        print('descent from the identity, order seed %d (%d sweeps): objective %.6e; %% of units as planted: %s' % (seed, sweeps, objective(g1, g2, p), rec))


if __name__ == '__main__':
    main()
