#!/usr/bin/env python3
"""How much a transfer's permutation changes from one step to the next.

    python3 bench/perm_churn.py [--from S] TRANSFER_DIR...

For each folder written by `ltransfer transfer --out` (perms-NNNN.json per
step) prints the share of hidden units that step t's permutation puts
somewhere else than step t-1's, averaged over the steps t > S (default 15,
the second half of a T = 30 trajectory), overall and per group.
"""
import glob
import json
import os
import sys


def churn(d, first):
    files = sorted(glob.glob(os.path.join(d, 'perms-[0-9][0-9][0-9][0-9].json')))
    if len(files) < 2:
        sys.exit(f'{d}: fewer than two perms-NNNN.json files')
    perms = [json.load(open(f)) for f in files]
    moved, total, per = 0, 0, {}
    for t in range(max(first, 1), len(perms)):
        a, b = perms[t - 1], perms[t]
        if a.keys() != b.keys():
            sys.exit(f'{files[t]}: groups {sorted(b)} differ from the previous step\'s {sorted(a)}')
        for g in b:
            m = sum(x != y for x, y in zip(a[g], b[g]))
            moved += m
            total += len(b[g])
            pm, pt = per.get(g, (0, 0))
            per[g] = (pm + m, pt + len(b[g]))
    return moved, total, per


def main():
    args = sys.argv[1:]
    first = 15
    if len(args) >= 2 and args[0] == '--from':
        first, args = int(args[1]), args[2:]
    if not args:
        sys.exit(__doc__)
    for d in args:
        moved, total, per = churn(d, first)
        groups = ' '.join(f'{g} {100 * m / n:.0f}' for g, (m, n) in per.items())
        print(f'{d}: {100 * moved / total:.1f} % of units moved per step (steps > {first}); per group %: {groups}')


if __name__ == '__main__':
    main()
