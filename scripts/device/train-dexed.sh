#!/usr/bin/env bash
# Trains the shipped Dexed checkpoints on a GPU machine lent by the `device` tool (16 cores, one H100), in one
# call of at most 10 minutes: the 98304-render dataset (about 2 min at 850 renders/s on 16 workers), then the
# flow (9000 steps at batch 256, about 5 min) and the regression head (3000 steps) side by side on the GPU.
# The machine has torch but none of the audio packages and no network, so they travel as wheels in .whl
# (ignored; Python 3.12 manylinux wheels fetched here with `pip download --no-deps --only-binary=:all:
# --python-version 3.12 ...`): vita dexed-py librosa==0.11.0 soundfile cffi pycparser soxr dtw-python
# nevergrad cma bayesian-optimization==1.4.0 tomli-w pyloudnorm pedalboard audioread pooch decorator platformdirs.
# The checked-out tree must be under the tool's 64 MiB: `results/` is not needed there (untrack it for the call).
#   device run: bash scripts/device/train-dexed.sh     (carry: .whl)
# Results come back under $OUT: dexed.pt, dexed-regress.pt and logs.tgz (logs and the .json records).
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
mkdir -p /tmp/bin
printf '#!/usr/bin/env python3\nfrom hybridmatch.cli import main\nmain()\n' > /tmp/bin/hybridmatch; chmod +x /tmp/bin/hybridmatch
# a private copy, so that the tool's next sync of the working tree cannot overwrite what this writes
rm -rf /tmp/w && mkdir -p /tmp/w && cp -r hybridmatch scripts configs strategies pyproject.toml /tmp/w/
export PYTHONPATH=/tmp/site:/tmp/w PATH=/tmp/bin:$PATH PYTHONUNBUFFERED=1
cd /tmp/w && mkdir -p logs
nvidia-smi --query-gpu=name,memory.total --format=csv
python3 -c "import torch, vita, dexed, librosa, pedalboard, pyloudnorm, nevergrad, soundfile, soxr, dtw; print(torch.__version__, torch.cuda.is_available())" || exit 1
CK=hybridmatch/ml/checkpoints; SD=${SD:-9000}
timeout -k 15 ${DATA_S:-170} hybridmatch dataset --synth dexed --config dexed --n 98304 --out data/dexed --workers 16 --augment > logs/dexed-data.log 2>&1
OMP_NUM_THREADS=4 hybridmatch train --data data/dexed --synth dexed --config dexed --out $CK/dexed.pt --steps $SD --batch 256 --device cuda --workers 12 --model mlp --lr 1e-3 > logs/dexed-train.log 2>&1 &
OMP_NUM_THREADS=2 hybridmatch train --data data/dexed --synth dexed --config dexed --model regress --out $CK/dexed-regress.pt --steps $((SD/3)) --batch 256 --device cuda --workers 4 > logs/dexed-reg.log 2>&1 &
wait
tail -n 1 logs/*.log
for f in dexed dexed-regress; do [ -f $CK/$f.json ] && cp $CK/$f.pt "$OUT"/ && cp $CK/$f.json logs/; done
tar czf "$OUT"/logs.tgz logs
