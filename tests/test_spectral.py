"""The numpy spectral features against the librosa functions they stand in for (the same arrays, bit
for bit), the filterbank cache, and what a render worker imports."""

from __future__ import annotations

import subprocess
import sys
import warnings

import librosa
import numpy as np
import pytest
import scipy.signal

from hybridmatch import spectral
from tests.conftest import ROOT


def _noise(channels: int, n: int, seed: int) -> np.ndarray:
    """``(channels, n)`` float32 noise; ``(n,)`` for 0 channels."""
    y = np.random.default_rng(seed).standard_normal((max(channels, 1), n)).astype(np.float32) * 0.1
    return y[0] if channels == 0 else y


@pytest.mark.parametrize("n", [7, 441, 2048, 4410])
def test_hann_is_scipys_periodic_window(n):
    assert np.array_equal(spectral.hann(n), scipy.signal.get_window("hann", n, fftbins=True))


# (n_fft, hop): the objectives' scales at 44.1 and 48 kHz (odd windows included) and the flow's features
SCALES = [(441, 220), (1102, 441), (4410, 2205), (2205, 882), (2400, 960), (1024, 344), (2048, 512)]


@pytest.mark.parametrize("channels", [0, 1, 2])  # 0: a 1-D signal
@pytest.mark.parametrize("n", [100, 1000, 22050, 66150])
def test_spectrogram_mel_mfcc_and_db_are_librosas(channels, n):
    y = _noise(channels, n, seed=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns of windows longer than the signal and of empty mel bands
        for n_fft, hop in SCALES:
            assert np.array_equal(spectral.stft_magnitude(y, n_fft, hop), np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)))
            for sr, n_mels, htk in [(44100, 64, False), (48000, 128, True), (22050, 32, False)]:
                mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, htk=htk)
                ours = spectral.melspectrogram(y, sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, htk=htk)
                assert ours.dtype == mel.dtype and np.array_equal(ours, mel)
                assert np.array_equal(spectral.power_to_db(ours, ref="max"), librosa.power_to_db(mel, ref=np.max))
                assert np.array_equal(spectral.power_to_db(ours, top_db=None), librosa.power_to_db(mel, top_db=None))
            expected = librosa.feature.mfcc(y=y, sr=44100, n_mfcc=20, n_fft=n_fft, hop_length=hop, n_mels=128)
            assert np.array_equal(spectral.mfcc(y, 44100, n_mfcc=20, n_fft=n_fft, hop_length=hop, n_mels=128), expected)


def test_filterbanks_are_cached_on_disk_and_remade_when_unreadable(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spectral.mel_basis.cache_clear()
    made = spectral.mel_basis(44100, 1000, 40)
    (cached,) = (tmp_path / "hybridmatch" / "mel").glob("*.npy")
    assert np.array_equal(np.load(cached), librosa.filters.mel(sr=44100, n_fft=1000, n_mels=40)) and np.array_equal(made, np.load(cached))
    cached.write_bytes(b"not an array")
    spectral.mel_basis.cache_clear()
    assert np.array_equal(spectral.mel_basis(44100, 1000, 40), made)
    assert np.array_equal(np.load(cached), made)
    spectral.mel_basis.cache_clear()


def test_a_worker_scores_without_librosa_and_nevergrad_loads_without_scikit_learn():
    build = "from hybridmatch.catalog import resolve_synth\nfrom hybridmatch.worker import build\nbuild(resolve_synth('toy', None))\n"
    subprocess.run([sys.executable, "-c", build], cwd=ROOT, check=True)  # fills the filterbank cache, as a first run does
    script = build + (
        "import sys\n"
        "assert 'librosa' not in sys.modules and 'scipy.signal' not in sys.modules, 'a worker imported librosa'\n"
        "from hybridmatch._ng import nevergrad\n"
        "assert 'CMA' in nevergrad().optimizers.registry and 'sklearn' not in sys.modules, 'nevergrad imported scikit-learn'\n"
        "import bayes_opt\n"  # importable again once nevergrad is loaded
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
