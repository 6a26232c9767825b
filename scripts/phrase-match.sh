#!/usr/bin/env bash
# Phrase matching against single-note matching on the same patches: prior-sampled patches (Dexed
# seeds 6200-6219, Vital 7200-7219: outside the held-out protocol's and the training sets') each
# playing a random line of 4-8 notes over 2-8 s (`sample --phrase`), and each holding one note, the
# line's median, for 0.5 s of 1 s (the note `sample --phrase` draws the patch at, so both targets
# play the same patch). Both folders' targets share names, so scripts/paired.py pairs them:
#   python scripts/paired.py results/phrase-match/dexed-phrases:cnf-latent-sur results/phrase-match/dexed-notes:cnf-latent-sur --metric mss,wmfcc
# The phrases are matched at their true notes (compare reads each <stem>.mid), with each synth's
# default strategy at 500 candidates, search seeds 0, 1 and 2; the transcription is measured on its own (results/transcription).
#   SYNTH=vital bash scripts/phrase-match.sh
set -euo pipefail
P=results/phrase-match
SYNTH=${SYNTH:-dexed}
case $SYNTH in
  dexed) FIRST=6200; STRATEGY=cnf-latent-sur ;;
  vital) FIRST=7200; STRATEGY=cnf-cma ;;
  *) echo "SYNTH is dexed or vital" >&2; exit 2 ;;
esac
SEEDS=${SEEDS:-$(seq $FIRST $((FIRST + 19)))}
WORKERS=${WORKERS:-2}
RUNS=${RUNS:-3}  # search seeds per target
mkdir -p $P/targets-$SYNTH-phrases $P/targets-$SYNTH-notes
for s in $SEEDS; do
  name=${SYNTH:0:1}$s   # d6200, v7200
  phrase=$P/targets-$SYNTH-phrases/$name.wav
  [ -f $phrase ] || hybridmatch sample --synth $SYNTH --seed $s --phrase $((4 + s % 5)) --out $phrase > /dev/null
  note=$(python -c "import json, statistics; print(int(statistics.median(n['pitch'] for n in json.load(open('${phrase%.wav}.json'))['phrase'])))")
  [ -f $P/targets-$SYNTH-notes/$name.wav ] || hybridmatch sample --synth $SYNTH --seed $s --note $note --duration 0.5 --seconds 1.0 \
    --out $P/targets-$SYNTH-notes/$name.wav > /dev/null
done
for kind in phrases notes; do
  hybridmatch compare --targets $P/targets-$SYNTH-$kind --synth $SYNTH --strategies $STRATEGY --budgets 100,500 --seeds $RUNS \
    --workers $WORKERS --out $P/$SYNTH-$kind --quiet > /dev/null
done
