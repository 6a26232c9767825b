"""Names to things: synth configs and strategies by name or path, and each synth's default config
and strategy. The shipped ``configs/`` and ``strategies/`` are found beside the package (a source
checkout) or inside it (an installed wheel); ``$HYBRIDMATCH_DATA`` names another folder holding both."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, check_name
from .space import ParamSpace, read_config
from .synths import SynthSpec, registered

if TYPE_CHECKING:
    from .search import Strategy

__all__ = ["DEFAULT_CONFIG", "auto_strategy", "data_root", "known_names", "load_synth", "plugin_config", "resolve_strategy", "resolve_synth"]

DEFAULT_CONFIG = {"vital": "vital-simple", "dexed": "dexed", "toy": "toy"}
PATH_OPTIONS = ("plugin", "preset")  # config options that name files; relative ones are relative to the config


def data_root() -> Path:
    """Where ``configs/`` and ``strategies/`` live: $HYBRIDMATCH_DATA, else the copy inside an
    installed package, else the source checkout the package sits in."""
    env = os.environ.get("HYBRIDMATCH_DATA")
    if env:
        return Path(env)
    packaged = Path(__file__).resolve().parent / "_data"
    return packaged if (packaged / "strategies").is_dir() else Path(__file__).resolve().parents[1]


def known_names(folder: str) -> list[str]:
    """The shipped names in ``configs/synths`` or ``strategies``."""
    return sorted(p.stem for p in (data_root() / folder).glob("*.toml"))


def _find(kind: str, name: str, folder: str) -> Path:
    """A ``.toml`` path as given, or a shipped name looked up in ``folder``."""
    path = Path(name)
    if path.suffix == ".toml" or path.is_file():  # a file path; a bare name (even of a folder here) is looked up
        if not path.is_file():
            raise ConfigError(f"{kind} file not found: {path}")
        return path
    if name not in known_names(folder):
        raise ConfigError(f"unknown {kind} {name!r}; known: {', '.join(known_names(folder)) or 'none'} (or give a .toml path)")
    return data_root() / folder / f"{name}.toml"


def load_synth(path: str | Path, *, sample_rate: int = 44100, backend: str | None = None, text: str | None = None,
               options: Mapping[str, Any] | None = None) -> SynthSpec:
    """A :class:`SynthSpec` from a synth config TOML (its ``synth`` key names the backend).

    ``text`` gives the TOML directly (``path`` then only names it); ``options`` override the config's
    ``[options]`` (e.g. the plugin path from ``--synth vst3:PATH``)."""
    path = Path(path)
    raw = read_config(path, text)
    name = backend or raw.get("synth")
    if not name:
        raise ConfigError(f"{path}: no 'synth' key naming the backend")
    space = ParamSpace.from_dict(raw, name=check_name("synth config", raw.get("name", path.stem)))
    opts = dict(raw.get("options", {}))
    for key in PATH_OPTIONS:
        if isinstance(opts.get(key), str) and not Path(opts[key]).is_absolute():
            opts[key] = str((path.parent / opts[key]).resolve())
    opts.update(options or {})
    strategy = raw.get("strategy", "cma")
    if not isinstance(strategy, str):
        raise ConfigError(f"{path}: 'strategy' must name the config's default strategy")
    spec = SynthSpec(str(name), space, sample_rate, opts, dict(raw.get("render", {})), strategy)
    spec.validate()
    return spec


def plugin_config(plugin: str | Path) -> Path | None:
    """The shipped config curated for a VST3 plugin, found by the plugin's file name (its
    ``[options] plugin``), or None."""
    for path in sorted((data_root() / "configs/synths").glob("*.toml")):
        raw = read_config(path)
        named = raw.get("options", {}).get("plugin")
        if raw.get("synth") == "vst3" and isinstance(named, str) and Path(named).name == Path(plugin).name:
            return path
    return None


def resolve_synth(synth: str, config: str | None, sample_rate: int = 44100) -> SynthSpec:
    """A SynthSpec for ``--synth``/``--config``. ``vst3:PATH`` names a plugin file; without a config
    it uses the shipped config made for that plugin (by file name) where there is one, else it
    searches every parameter that ``hybridmatch describe PATH`` lists."""
    if synth.startswith("vst3:"):
        plugin = str(Path(synth[5:]).expanduser().resolve())
        config = config or (str(found) if (found := plugin_config(plugin)) is not None else None)
        if config is None:
            from .synths._vst3 import describe

            return load_synth(Path(plugin).with_suffix(".toml"), sample_rate=sample_rate, text=describe(plugin), options={"plugin": plugin})
        return load_synth(_find("synth config", config, "configs/synths"), sample_rate=sample_rate, backend="vst3", options={"plugin": plugin})
    if synth not in registered() and ":" not in synth:
        raise ConfigError(f"unknown synth {synth!r}; registered: {', '.join(registered())}")
    name = config or DEFAULT_CONFIG.get(synth)
    if name is None:
        raise ConfigError(f"synth {synth!r} needs --config")
    return load_synth(_find("synth config", name, "configs/synths"), sample_rate=sample_rate, backend=synth)


def resolve_strategy(name: str, spec: SynthSpec | None = None) -> Strategy:
    """A strategy by name or path; ``auto`` (with the synth spec) is :func:`auto_strategy`'s choice."""
    from .search import load_strategy

    if name == "auto":
        if spec is None:
            raise ConfigError("--strategy auto needs a synth")
        name = auto_strategy(spec)
    return load_strategy(_find("strategy", name, "strategies"))


def auto_strategy(spec: SynthSpec) -> str:
    """The config's ``strategy`` (measured best for it; results/README.md) where a flow checkpoint
    ships for the config; plain CMA-ES where none does (a VST3 plugin, a config of your own)."""
    from .ml.proposer import checkpoint_path

    return spec.default_strategy if checkpoint_path(spec.space, "cnf").exists() else "cma"
