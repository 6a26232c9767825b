from __future__ import annotations

import numpy as np
import pytest

from hybridmatch.objectives import OBJECTIVES, PENALTY, TargetFeatures, mss, rms_cosine, score, sot, wmfcc
from tests.conftest import SR, sine


def test_identical_signals_score_perfectly():
    y = np.concatenate([sine(440), sine(330)])
    assert mss(y, y) == 0.0
    assert wmfcc(y, y) == pytest.approx(0.0, abs=1e-9)
    assert sot(y, y) == pytest.approx(0.0, abs=1e-12)
    assert rms_cosine(y, y) == pytest.approx(1.0)


def test_mss_and_rms_ignore_gain_because_of_ref_max_and_cosine():
    y = sine(440)
    assert mss(y, 0.25 * y) == pytest.approx(0.0, abs=1e-4)
    assert rms_cosine(y, 0.25 * y) == pytest.approx(1.0, abs=1e-6)


def test_sot_of_two_pure_tones_is_their_bin_distance():
    # Hand computation: a 50 ms hann STFT has n_fft//2 + 1 bins. Two steady tones centred on bins i and j
    # give (nearly) point masses, whose W1 on [0, 1] is |i - j| / n_bins.
    n_fft = int(0.05 * SR)
    n_bins = n_fft // 2 + 1
    i, j = 40, 100
    t = np.arange(SR) / SR
    a = np.sin(2 * np.pi * i * SR / n_fft * t)[None]
    b = np.sin(2 * np.pi * j * SR / n_fft * t)[None]
    assert sot(a, b) == pytest.approx((j - i) / n_bins, rel=0.02)


def test_rms_cosine_hand_case():
    # First half loud, second half silent vs constant level: envelopes (1,...,1,0,...,0) and (1,...,1);
    # cosine = n_half / sqrt(n_half * n) = 1/sqrt(2) up to the frame straddling the edge.
    n = SR
    a = np.sin(2 * np.pi * 441 * np.arange(n) / SR)
    gated = a * (np.arange(n) < n // 2)
    assert rms_cosine(a[None], gated[None]) == pytest.approx(1 / np.sqrt(2), abs=0.02)


def test_wmfcc_tolerates_time_shift_better_than_a_frame_loss():
    y = sine(440, decay=6)
    shifted = np.roll(y, int(0.03 * SR), axis=-1)
    other = sine(660, decay=6)
    assert wmfcc(y, shifted) < 0.5 * wmfcc(y, other)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_objective_contract(name):
    obj = OBJECTIVES[name]
    target = np.concatenate([sine(440), sine(441)])
    feats = TargetFeatures(target)
    near, far = np.concatenate([sine(445), sine(446)]), np.concatenate([sine(1500), sine(1500)])
    v_same, v_near, v_far = obj(feats, target), obj(feats, near), obj(feats, far)
    assert all(isinstance(v, float) and np.isfinite(v) for v in (v_same, v_near, v_far))
    assert v_same <= v_near + 1e-9 and v_same <= v_far + 1e-9
    assert obj(feats, far) == v_far  # deterministic
    assert v_same == pytest.approx(0.0, abs=1e-3)
    for bad in (np.zeros((2, SR)), np.full((2, SR), np.nan), np.zeros((2, 0))):
        assert obj(feats, bad) == PENALTY[name]


def test_score_matches_plain_functions_and_handles_mono_vs_stereo():
    target = sine(440)
    cand = np.concatenate([sine(450), sine(450)])
    s = score(TargetFeatures(target), cand)
    mono = cand.mean(axis=0, keepdims=True)
    assert s["mss"] == pytest.approx(mss(target, mono))
    assert s["rms"] == pytest.approx(1 - rms_cosine(target, mono))
