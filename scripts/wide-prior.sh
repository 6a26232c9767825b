#!/usr/bin/env bash
# Targets outside the shipped Vital flow's prior: 10 patches drawn from `vital-full` (distortion,
# chorus, reverb, more wavetables), matched with the default config (`vital-simple`) by its default
# strategy and by pure CMA-ES, 3 seeds, 500 renders. The targets are rebuilt from their seeds (not
# kept in git); the compare resumes. results/README.md, "Does the flow help outside its prior?".
set -euo pipefail
R=results/wide-prior
T=$R/targets-vital-full
NOTES=(48 52 55 57 60 62 64 67 69 72)
mkdir -p $T
for i in $(seq 0 9); do
  s=$((9100 + i))
  [ -f $T/w$s.wav ] || hybridmatch sample --synth vital --config vital-full --seed $s --note ${NOTES[$i]} --duration 0.5 --seconds 1.5 --out $T/w$s.wav > /dev/null
done
for s in ${SEEDS:-1 2 3}; do
  hybridmatch compare --targets $T --synth vital --strategies cnf-cma,cma --budgets 100,200,500 --seeds $s --workers ${WORKERS:-2} --out $R/vital --quiet > /dev/null
done
