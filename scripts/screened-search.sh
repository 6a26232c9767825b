#!/usr/bin/env bash
# Dexed's default with the surrogate screening its CMA-ES (cnf-latent-sur, screen = 3) on the held-out
# protocol: 20 in-domain targets and 12 recordings, 3 seeds one at a time, 500 renders. Each compare
# resumes. Paired against the same strategy without the screen (results/recipes), see results/README.md.
set -euo pipefail
H=results/hybrid-vs-search
R=results/screened-search
WORKERS=${WORKERS:-2}
[ -d $H/targets-real ] || python scripts/real_targets.py $H/targets-real
for s in ${SEEDS:-1 2 3}; do
  hybridmatch compare --targets $H/targets-dexed --synth dexed --strategies cnf-latent-sur --budgets 50,100,200,500 --seeds $s --workers $WORKERS --out $R/dexed --quiet > /dev/null
  hybridmatch compare --targets $H/targets-real --synth dexed --strategies cnf-latent-sur --budgets 50,100,200,500 --seeds $s --workers $WORKERS --out $R/dexed-real --quiet > /dev/null
done
