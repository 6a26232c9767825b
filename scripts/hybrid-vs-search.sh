#!/usr/bin/env bash
# Reruns (or resumes) the hybrid-vs-search protocol behind results/README.md, for SYNTHS (default
# both). Every `compare` resumes from its finished runs, so this picks up where a killed run stopped.
# Seeds run one at a time (--seeds 1, 2, 3), so a partial run has whole seeds, not whole targets.
#   in-domain: 20 held-out sampled targets per synth (targets-dexed, targets-vital; seeds never used in training)
#   real:      12 General MIDI notes from fluidsynth (targets-real; scripts/real_targets.py, needs mido)
# cnf-only and random at 64 renders go to their own folders (*-n64), run to 64 renders only; the
# noise-space strategies (Dexed's default cnf-latent-sur, and cnf-latent) to *-latent.
set -euo pipefail
H=results/hybrid-vs-search
SYNTHS=${SYNTHS:-dexed vital}
WORKERS=${WORKERS:-2}
[ -d $H/targets-real ] || python scripts/real_targets.py $H/targets-real
for synth in $SYNTHS; do
  for set in in-domain real; do
    if [ $set = real ]; then targets=$H/targets-real; out=$H/$synth-real; else targets=$H/targets-$synth; out=$H/$synth; fi
    hybridmatch compare --targets $targets --synth $synth --strategies cnf-only,random --budgets 16,32,64 --seeds 3 --workers $WORKERS --out $out-n64 --quiet > /dev/null
    for s in 1 2 3; do
      hybridmatch compare --targets $targets --synth $synth --strategies cnf-cma,cma,regress-cma --budgets 50,100,200,500 --seeds $s --workers $WORKERS --out $out --quiet > /dev/null
      hybridmatch compare --targets $targets --synth $synth --strategies cnf-latent-sur,cnf-latent,cma --budgets 50,100,200,500 --seeds $s --workers $WORKERS --out $out-latent --quiet > /dev/null
    done
    python scripts/hybrid_claims.py $out $out-n64 > $out/claims.md
  done
done
