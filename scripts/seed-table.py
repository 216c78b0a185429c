#!/usr/bin/env python3
"""seed-table.py SWEEP_ENV_DIR VARIANT... — a Markdown row per (variant, seed) cell of a sweep,
finished or not: each seed's mean of its last three evaluations at or before 7.5k, 10k, 12.5k,
15k, 20k and 25k total env steps (exploration included), and the run's own holdout MSE after
phase 2 over after phase 1 at its first and newest epoch.
  scripts/seed-table.py exp/halfcheetah/halfcheetah mbpo faithful-own-scaler w2"""
import csv
import glob
import os
import sys

TOTALS = [7500, 10000, 12500, 15000, 20000, 25000]


def row(variant, seed, path):
    with open(path) as f:
        evals = [x for x in csv.DictReader(f) if x['eval_return'] not in ('', 'nan')]
    if not evals:
        return None
    steps = [(float(x['total_env_steps']), float(x['eval_return'])) for x in evals]
    newest = int(steps[-1][0])
    cells = []
    for t in TOTALS:
        v = [ret for total, ret in steps if total <= t][-3:]
        cells.append(f'{sum(v) / len(v):.0f}' if v and t <= newest else '–')
    ratio = [float(x['model_holdout_mse']) / float(x['model_holdout_mse_p1']) for x in evals
             if x['model_holdout_mse_p1'] not in ('', 'nan', '0')]
    r = f'{ratio[0]:.2f} → {ratio[-1]:.2f} (max {max(ratio):.2f})' if ratio else '1 (no phase 2)'
    return f'| {variant}, {seed} | {newest} | ' + ' | '.join(cells) + f' | {r} |'


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    base = sys.argv[1]
    print('| variant, seed | newest total env steps | ' +
          ' | '.join(f'{t / 1000:g}k' for t in TOTALS) +
          ' | holdout MSE after / after phase 1, per epoch (first → newest) |')
    print('|---|---|' + '---|' * len(TOTALS) + '---|')
    for v in sys.argv[2:]:
        for d in sorted(glob.glob(os.path.join(base, v, 's*'))):
            m = os.path.join(d, 'metrics.csv')
            if os.path.exists(m):
                r = row(v, os.path.basename(d)[1:], m)
                if r:
                    print(r)


main()
