#!/usr/bin/env bash
# Everything behind results/dexed-vst3.md: the Dexed VST3 against dexed-py on 10 held-out voices.
#   DEXED=path/to/Dexed.vst3 scripts/dexed-vst3.sh      (default: ../shared/plugins/Dexed.vst3)
# Targets: 10 voices sampled with `hybridmatch sample --synth dexed` (seeds 93000-93009, never used
# in tuning). The batches run as a user's `run` would (note and length estimated) and go to OUT
# (default /tmp/dexed-vst3); the compares use the targets' true note and length, 3 seeds each.
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
hybridmatch batch $R/targets --synth vst3:$DEXED --strategy cma --budget 500 --workers 2 --out $OUT/vst3 --quiet
hybridmatch batch $R/targets --synth dexed --strategy cma --budget 500 --workers 2 --out $OUT/dexed-py --quiet
python scripts/batch_table.py $OUT/vst3 $OUT/dexed-py > $R/known-answer.md
hybridmatch crosscheck $OUT/dexed-py $OUT/vst3 --synth vst3:$DEXED --out $R/crosscheck.md > /dev/null
hybridmatch compare --targets $R/targets --synth vst3:$DEXED --strategies cma --budgets 100,500 --seeds 3 --workers 2 --out $R/vst3 --quiet > /dev/null
hybridmatch compare --targets $R/targets --synth dexed --strategies cma --budgets 100,500 --seeds 3 --workers 2 --out $R/dexed-py --quiet > /dev/null
python scripts/paired.py $R/vst3:cma $R/dexed-py:cma > $R/paired.md
hybridmatch bench-render --synth vst3:$DEXED --config $R/silent.toml --workers 1 --renders 24 --vary initialization_timeout=0,10 --out $R/silence.md
