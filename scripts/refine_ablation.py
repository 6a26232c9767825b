"""`hybridmatch batch` with the probes rendered but the estimate always kept (an ablation).

    python scripts/refine_ablation.py results/vst3/targets --synth vst3:$P ... --out OUT

Same arguments as `hybridmatch batch`. The refinement runs as usual (same probes, same renders
spent, same archive) except that no hypothesis may replace the estimate, so comparing this against
`batch --refine` isolates what the chosen note and length buy, and comparing it against
`batch --no-refine` what the probes' renders themselves change.
"""

from __future__ import annotations

import sys

from hybridmatch import cli
from hybridmatch.search import _refine

if __name__ == "__main__":
    _refine.MARGIN = float("inf")  # loss < best * (1 - inf) never holds: the estimate is always kept
    sys.argv = ["hybridmatch", "batch", *sys.argv[1:]]
    cli.main()
