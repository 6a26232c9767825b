from __future__ import annotations

import os
import tempfile
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


SYNTH_CONFIGS = ["toy", "vital-simple", "vital-fresh", "vital-full", "dexed", "vst3", "dexed-vst3"]
FIXTURES = ROOT / "tests" / "fixtures"
HMSYNTH_CONFIG = FIXTURES / "hmsynth" / "hmsynth.toml"
SHARED_PLUGINS = ROOT.parent / "shared" / "plugins"  # real third-party plugins, where this machine has them


_DATA_HOME = tempfile.TemporaryDirectory(prefix="hybridmatch-tests-data-")


def pytest_configure(config) -> None:
    """Plugins that write files on first load (Dexed writes its cartridges under $XDG_DATA_HOME) write
    them into a folder of this test session, set before any worker process starts."""
    os.environ["XDG_DATA_HOME"] = _DATA_HOME.name


def pytest_unconfigure(config) -> None:
    _DATA_HOME.cleanup()


@pytest.fixture(scope="session")
def dexed_plugin() -> Path:
    """The Dexed VST3 from ../shared/plugins (skipped where that folder is absent)."""
    plugin = SHARED_PLUGINS / "Dexed.vst3"
    if not plugin.is_dir():
        pytest.skip(f"the Dexed VST3 is not on this machine ({plugin} is absent)")
    return plugin


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
    if request.param == "dexed-vst3":
        plugin = request.getfixturevalue("dexed_plugin")
        return load_synth(configs / "dexed-vst3.toml", options={"plugin": str(plugin)})
    return load_synth(configs / f"{request.param}.toml")
