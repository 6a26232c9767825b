#!/usr/bin/env bash
# Everything behind results/dexed-vst3.md: the Dexed VST3 against dexed-py on 10 held-out voices.
#   DEXED=path/to/Dexed.vst3 scripts/dexed-vst3.sh      (default: ../shared/plugins/Dexed.vst3)
# Targets: 10 voices sampled with `hybridmatch sample --synth dexed` (seeds 93000-93009, never used
# in tuning). The batches run as a user's `run` would (note and length estimated, seed 0), with the
# default strategy and with cma, and go to OUT (default /tmp/dexed-vst3); the compares use the
# targets' true note and length, 3 seeds each.
# Everything resumes. The silence benchmark runs last and wants an idle machine.
set -euo pipefail
DEXED=${DEXED:-../shared/plugins/Dexed.vst3}
OUT=${OUT:-/tmp/dexed-vst3}
R=results/dexed-vst3
export XDG_DATA_HOME=${XDG_DATA_HOME:-$OUT/xdg}   # where Dexed writes its cartridges on first load
mkdir -p $R/targets $OUT
for i in $(seq 0 9); do
  [ -f $R/targets/x9300$i.wav ] || hybridmatch sample --synth dexed --seed 9300$i --note $((48 + 3 * i)) --duration 0.6 --seconds 1.0 --out $R/targets/x9300$i.wav > /dev/null
done
for strategy in auto cma; do   # auto: the configs' default, cnf-latent-sur on both engines
  hybridmatch batch $R/targets --synth vst3:$DEXED --strategy $strategy --budget 500 --workers 2 --out $OUT/vst3-$strategy --quiet > /dev/null
  hybridmatch batch $R/targets --synth dexed --strategy $strategy --budget 500 --workers 2 --out $OUT/dexed-py-$strategy --quiet > /dev/null
done
python scripts/batch_table.py $OUT/vst3-auto $OUT/dexed-py-auto > $R/known-answer.md
python scripts/batch_table.py $OUT/vst3-cma $OUT/dexed-py-cma > $R/known-answer-cma.md
hybridmatch crosscheck $OUT/dexed-py-auto $OUT/dexed-py-cma $OUT/vst3-auto $OUT/vst3-cma --synth vst3:$DEXED --out $R/crosscheck.md > /dev/null
for s in 1 2 3; do   # the default strategy on both engines
  hybridmatch compare --targets $R/targets --synth vst3:$DEXED --strategies cnf-latent-sur --budgets 100,500 --seeds $s --workers 2 --out $R/vst3 --quiet > /dev/null
  hybridmatch compare --targets $R/targets --synth dexed --strategies cnf-latent-sur --budgets 100,500 --seeds $s --workers 2 --out $R/dexed-py --quiet > /dev/null
done
python scripts/paired.py $R/vst3:cnf-latent-sur $R/dexed-py:cnf-latent-sur > $R/paired.md
hybridmatch bench-render --synth vst3:$DEXED --config $R/silent.toml --workers 1 --renders 24 --vary initialization_timeout=0,10 --out $R/silence.md
