#!/usr/bin/env bash
# Trains the shipped Dexed checkpoints on a GPU machine lent by the `device` tool (16 cores, one H100), in one
# call of at most 10 minutes: scripts/train-checkpoints.sh's Dexed recipe with DEVICE=cuda WORKERS=16 PARALLEL=1
# (the 98304 renders took 164 s there, the flow's 9000 steps 300 s beside the regression head's 3000;
# logs in results/training-logs/dexed-h100/). That recipe's flow now hears the level (--level), as the
# shipped one does; the shipped flow itself was trained on the 2-core CPU, the regression head here.
# The machine has torch but none of the audio packages and no network, so they travel as wheels in .whl
# (ignored; Python 3.12 manylinux wheels fetched here with `pip download --no-deps --only-binary=:all:
# --python-version 3.12 ...`): vita dexed-py librosa==0.11.0 soundfile cffi pycparser soxr dtw-python
# nevergrad cma bayesian-optimization==1.4.0 tomli-w pyloudnorm pedalboard audioread pooch decorator platformdirs.
# The checked-out tree must be under the tool's 64 MiB: `results/` is not needed there (untrack it for the call).
#   device run: bash scripts/device/train-dexed.sh     (carry: .whl)
# Results come back under $OUT: dexed.pt, dexed-regress.pt and logs.tgz (the log and the .json records).
set -euo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
mkdir -p /tmp/bin
printf '#!/usr/bin/env python3\nfrom hybridmatch.cli import main\nmain()\n' > /tmp/bin/hybridmatch; chmod +x /tmp/bin/hybridmatch
# a private copy, so that the tool's next sync of the working tree cannot overwrite what this writes
rm -rf /tmp/w && mkdir -p /tmp/w && cp -r hybridmatch scripts configs strategies pyproject.toml /tmp/w/
export PYTHONPATH=/tmp/site:/tmp/w PATH=/tmp/bin:$PATH PYTHONUNBUFFERED=1
cd /tmp/w && mkdir -p logs
nvidia-smi --query-gpu=name,memory.total --format=csv
ONLY=dexed DEVICE=cuda WORKERS=16 PARALLEL=1 REPORT= bash scripts/train-checkpoints.sh 2>&1 | tr '\r' '\n' > logs/train.log || { tail -n 20 logs/train.log; exit 1; }
grep -E "patches|held-out" logs/train.log
cp hybridmatch/ml/checkpoints/dexed.pt hybridmatch/ml/checkpoints/dexed-regress.pt "$OUT"/
cp hybridmatch/ml/checkpoints/dexed.json hybridmatch/ml/checkpoints/dexed-regress.json logs/
tar czf "$OUT"/logs.tgz logs
