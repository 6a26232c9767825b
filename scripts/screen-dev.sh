#!/usr/bin/env bash
# The development measurement behind `[optimizer] screen`: development targets that are in no
# held-out set (`hybridmatch sample` seeds 9101-9106 for Vital, 9201-9212 for Dexed), each synth's
# default against the same strategy screening 3 or 6 candidates per render, 500 renders. The variants are written next to the runs; every compare resumes.
# Then the tau of two candidate models on the Vital runs' generations (tau.md).
set -euo pipefail
R=results/screened-search/dev
mkdir -p $R/targets-vital $R/targets-dexed $R/strategies
for i in 0 1 2 3 4 5; do
  s=$((9101 + i))
  [ -f $R/targets-vital/d$s.wav ] || hybridmatch sample --synth vital --seed $s --note $((48 + 3 * i)) --duration 0.5 --seconds 1.5 --out $R/targets-vital/d$s.wav > /dev/null
done
for i in $(seq 0 11); do
  s=$((9201 + i))
  [ -f $R/targets-dexed/d$s.wav ] || hybridmatch sample --synth dexed --seed $s --note $((48 + i * 15 / 11)) --duration 0.5 --seconds 0.8 --out $R/targets-dexed/d$s.wav > /dev/null
done
for k in 3 6; do  # Vital's default, screened
  sed "s/^name = \"cnf-cma\"/name = \"cnf-cma-screen$k\"/; s/^race = 24/race = 24\nscreen = $k/" strategies/cnf-cma.toml > $R/strategies/cnf-cma-screen$k.toml
done
hybridmatch compare --targets $R/targets-vital --synth vital --strategies cnf-cma,$R/strategies/cnf-cma-screen3.toml,$R/strategies/cnf-cma-screen6.toml \
  --budgets 100,200,500 --seeds ${VITAL_SEEDS:-3} --workers ${WORKERS:-2} --out $R/vital --quiet > /dev/null
hybridmatch compare --targets $R/targets-dexed --synth dexed --strategies cnf-latent-sur,cnf-latent-sur-screen \
  --budgets 100,200,500 --seeds 2 --workers ${WORKERS:-2} --out $R/dexed --quiet > /dev/null
python scripts/surrogate_tau.py $R/vital --strategy cnf-cma --targets $R/targets-vital --synth vital --out $R/tau.md > /dev/null
{ for k in 3 6; do python scripts/paired.py $R/vital:cnf-cma-screen$k $R/vital:cnf-cma --metric mss,wmfcc; echo; done
  python scripts/paired.py $R/dexed:cnf-latent-sur-screen $R/dexed:cnf-latent-sur --metric mss,wmfcc; } > $R/paired.md
