from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hybridmatch.catalog import load_synth

ROOT = Path(__file__).resolve().parents[1]
SR = 44100


def sine(freq: float = 440.0, seconds: float = 1.0, *, sr: int = SR, decay: float = 3.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t) * np.exp(-decay * t)).astype(np.float32)[None]


def write(path: Path, audio: np.ndarray, sr: int = SR, **kw: object) -> Path:
    sf.write(str(path), np.asarray(audio).T, sr, **kw)
    return path


@pytest.fixture(scope="session")
def configs() -> Path:
    return ROOT / "configs" / "synths"


@pytest.fixture(scope="session")
def toy_spec(configs: Path):
    return load_synth(configs / "toy.toml")


SYNTH_CONFIGS = ["toy", "vital-simple", "vital-fresh", "vital-full", "dexed", "vst3"]
FIXTURES = ROOT / "tests" / "fixtures"
HMSYNTH_CONFIG = FIXTURES / "hmsynth" / "hmsynth.toml"


@pytest.fixture(scope="session")
def hmsynth() -> Path:
    """The HMSynth VST3 test plugin, built into a cache on first use (skipped only without a toolchain)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hmsynth_build", FIXTURES / "hmsynth" / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    why = build.missing_toolchain()
    if why and not (build.cache_dir() / "HMSynth.vst3").is_dir():
        pytest.skip(f"cannot build the HMSynth VST3 fixture: {why}")
    return build.plugin_path()


@pytest.fixture(scope="session", params=SYNTH_CONFIGS)
def any_spec(request, configs: Path):
    if request.param == "vst3":
        plugin = request.getfixturevalue("hmsynth")
        return load_synth(HMSYNTH_CONFIG, options={"plugin": str(plugin)})
    return load_synth(configs / f"{request.param}.toml")
