#!/usr/bin/env bash
# Phrase matching against single-note matching on the same patches: prior-sampled Dexed voices
# (seeds 6200-6209, outside the held-out protocol's and the training sets') each playing a random
# line of 4-8 notes over 2-8 s (`sample --phrase`), and each holding one note, the line's median, for
# 0.5 s of 1 s (the note `sample --phrase` draws the patch at, so both targets play the same patch).
# Both folders' targets share names, so scripts/paired.py pairs them:
#   python scripts/paired.py results/phrase-match/dexed-phrases:cnf-latent-sur results/phrase-match/dexed-notes:cnf-latent-sur --metric mss,wmfcc
# The phrases are matched at their true notes (compare reads each <stem>.mid), with the default
# strategy at 500 candidates; the transcription is measured on its own (results/transcription).
set -euo pipefail
P=results/phrase-match
SEEDS=${SEEDS:-$(seq 6200 6209)}
WORKERS=${WORKERS:-2}
mkdir -p $P/targets-dexed-phrases $P/targets-dexed-notes
for s in $SEEDS; do
  phrase=$P/targets-dexed-phrases/d$s.wav
  [ -f $phrase ] || hybridmatch sample --synth dexed --seed $s --phrase $((4 + s % 5)) --out $phrase > /dev/null
  note=$(python -c "import json, statistics; print(int(statistics.median(n['pitch'] for n in json.load(open('${phrase%.wav}.json'))['phrase'])))")
  [ -f $P/targets-dexed-notes/d$s.wav ] || hybridmatch sample --synth dexed --seed $s --note $note --duration 0.5 --seconds 1.0 \
    --out $P/targets-dexed-notes/d$s.wav > /dev/null
done
for kind in phrases notes; do
  hybridmatch compare --targets $P/targets-dexed-$kind --synth dexed --strategies cnf-latent-sur --budgets 100,500 --seeds 1 \
    --workers $WORKERS --out $P/dexed-$kind --quiet > /dev/null
done
