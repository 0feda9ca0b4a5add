# Planted-permutation check for Conv8 transfer (docs/results.md, experiment 1), numpy only.
#
#   /usr/bin/python3 bench/conv8_planted.py plant SRC/ckpt-0000.safetensors planted.safetensors
#   ltransfer transfer --source SRC --target-init planted.safetensors --method gmt --steps 30 \
#       --spacing cosine --gm-batches 2 --batch 128 --out OUT
#   /usr/bin/python3 bench/conv8_planted.py check OUT/perms.json
#   /usr/bin/python3 bench/conv8_planted.py ratio TRAJECTORY_DIR   # ‖θᵀ − θ⁰‖ / ‖θ⁰‖ per weight
#
# plant permutes the channels of every hidden Conv8 layer of a checkpoint at random (numpy
# seed 5), so the target initialisation is an exact permutation π* of the source's; check
# prints, per permutation group, the fraction of units ltransfer's permutations put where π*
# did.
import json, os, struct, sys
import numpy as np

LAYERS = ['convs.0', 'convs.2', 'convs.5', 'convs.7', 'convs.10', 'convs.12', 'convs.15', 'convs.17', 'linear.0', 'linear.2']


def load(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    d = {}
    for k, v in h.items():
        if k == '__metadata__':
            continue
        if v['dtype'] != 'F32':
            sys.exit('%s: tensor %s is %s, want F32' % (path, k, v['dtype']))
        s, e = v['data_offsets']
        d[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=np.float32).reshape(v['shape']).copy()
    return d, h.get('__metadata__')


def save(path, d, meta):
    h, off, bufs = {}, 0, []
    for k, v in d.items():
        bb = v.astype(np.float32).tobytes()
        h[k] = {'dtype': 'F32', 'shape': list(v.shape), 'data_offsets': [off, off + len(bb)]}
        off += len(bb)
        bufs.append(bb)
    if meta:
        h['__metadata__'] = meta
    hj = json.dumps(h).encode()
    hj += b' ' * ((8 - len(hj) % 8) % 8)
    tmp = path + '.tmp'  # no half-written file on failure
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(hj)) + hj + b''.join(bufs))
    os.replace(tmp, path)


def planted(sizes):
    rng = np.random.default_rng(5)
    return [rng.permutation(s) for s in sizes]


def permute(d, perms):
    """Conv8 tensors (weights or gradients) with hidden unit i of layer l moved from perms[l][i]."""
    d, prev = dict(d), None
    for i, L in enumerate(LAYERS + ['linear.4']):
        w = d[L + '.weight']
        if prev is not None:
            w = w[:, prev]
        if L != 'linear.4':
            w = w[perms[i]]
            d[L + '.bias'] = d[L + '.bias'][perms[i]]
            prev = perms[i]
        d[L + '.weight'] = w
    return d


def ends(d):
    """The first and last checkpoints of an `ltransfer train` trajectory folder, and the metadata."""
    m = json.load(open(d + '/manifest.json'))
    a, meta = load(d + '/' + m['checkpoints'][0]['file'])
    z, _ = load(d + '/' + m['checkpoints'][-1]['file'])
    return a, z, meta


def read_perms(path):
    """ltransfer's perms.json as a list of index arrays, one per Conv8 group P0, P1, …."""
    j = json.load(open(path))
    return [np.array(j['P%d' % i]) for i in range(len(LAYERS))]


def width_factor(d):
    """Conv8's width factor from its tensors: the first layer has 64 x width channels."""
    return '%g' % (d['convs.0.weight'].shape[0] / 64)


def main():
    cmd = sys.argv[1]
    if cmd == 'plant':
        d, meta = load(sys.argv[2])
        save(sys.argv[3], permute(d, planted([d[L + '.weight'].shape[0] for L in LAYERS])), meta)
    elif cmd == 'check':
        got = json.load(open(sys.argv[2]))
        names = sorted(got, key=lambda k: int(k[1:]))
        want = planted([len(got[k]) for k in names])
        for k, t in zip(names, want):
            print(k, len(t), '%.0f %%' % (100 * np.mean(np.array(got[k]) == t)))
    elif cmd == 'ratio':
        a, z, _ = ends(sys.argv[2])
        for k in a:
            if k.endswith('weight'):
                print(k, '%.2f' % (np.linalg.norm(z[k] - a[k]) / np.linalg.norm(a[k])))
    else:
        sys.exit('usage: conv8_planted.py plant SRC_CKPT OUT | check PERMS_JSON | ratio DIR')


if __name__ == '__main__':
    main()
