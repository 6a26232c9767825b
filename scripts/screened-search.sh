#!/usr/bin/env bash
# Dexed's default with and without the surrogate screening its CMA-ES (cnf-latent-sur-screen: screen = 3)
# on the held-out protocol: 20 in-domain targets and 12 recordings, 3 seeds one at a time, 500 renders.
# Each compare resumes. results/README.md pairs them with scripts/paired.py.
set -euo pipefail
H=results/hybrid-vs-search
R=results/screened-search
WORKERS=${WORKERS:-2}
[ -d $H/targets-real ] || python scripts/real_targets.py $H/targets-real
for s in ${SEEDS:-1 2 3}; do
  hybridmatch compare --targets $H/targets-dexed --synth dexed --strategies cnf-latent-sur-screen,cnf-latent-sur --budgets 50,100,200,500 --seeds $s --workers $WORKERS --out $R/dexed --quiet > /dev/null
  hybridmatch compare --targets $H/targets-real --synth dexed --strategies cnf-latent-sur-screen,cnf-latent-sur --budgets 50,100,200,500 --seeds $s --workers $WORKERS --out $R/dexed-real --quiet > /dev/null
done
