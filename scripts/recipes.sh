#!/usr/bin/env bash
# Reruns (or resumes) the returned-recipes measurement behind results/README.md: each synth's default
# strategy on the held-out protocol (the hybrid-vs-search targets), 500 renders, seeds one at a time.
# Each compare folder's summary.md ends with the recipes table. The search is the protocol's, so the best
# patch is paired against the hybrid-vs-search runs with scripts/paired.py (see results/README.md).
set -euo pipefail
H=results/hybrid-vs-search
R=results/recipes
SYNTHS=${SYNTHS:-dexed vital}
SEEDS=${SEEDS:-1 2 3}
WORKERS=${WORKERS:-2}
[ -d $H/targets-real ] || python scripts/real_targets.py $H/targets-real
for s in $SEEDS; do
  for synth in $SYNTHS; do
    strategy=$([ $synth = dexed ] && echo cnf-latent-sur || echo cnf-cma)
    hybridmatch compare --targets $H/targets-$synth --synth $synth --strategies $strategy --budgets 500 --seeds $s --workers $WORKERS --out $R/$synth --quiet > /dev/null
    hybridmatch compare --targets $H/targets-real --synth $synth --strategies $strategy --budgets 500 --seeds $s --workers $WORKERS --out $R/$synth-real --quiet > /dev/null
  done
done
