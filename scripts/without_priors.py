"""Writes a synth config with every parameter's prior removed, so that its datasets (and the flows
trained on them) draw uniformly from the unit cube; everything else is the source config's.

    python scripts/without_priors.py configs/synths/dexed.toml dexed-uniform > data/dexed-uniform.toml

Generated rather than committed so that the experiment stays "the config minus its priors" when the
source config changes (results/hybrid-vs-search.md, the Dexed recordings section).
"""

from __future__ import annotations

import argparse
import sys
import tomllib

import tomli_w  # already a dependency (hybridmatch writes VST3 configs with it)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", help="a synth config TOML")
    ap.add_argument("name", help="the new config's name")
    args = ap.parse_args()
    with open(args.source, "rb") as f:
        config = tomllib.load(f)
    config["name"] = args.name
    for param in config.get("param", []):
        param.pop("prior", None)
    sys.stdout.write(f"# {args.source} without its priors (scripts/without_priors.py).\n")
    sys.stdout.write(tomli_w.dumps(config))


if __name__ == "__main__":
    main()
