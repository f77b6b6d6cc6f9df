"""Guards against designs that meet the letter of a score but not its spirit.

Each guard looks at the developed geometry (a 2D or 3D occupancy grid) and returns whether it caught
the design. The search collects, per guard, how many designs it caught; the re-scoring guard (top
designs re-evaluated at a finer resolution) lives in :mod:`fab.morph.search`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Guard names, in the order the report lists them.
DETACHED = "detached_mass"  # material not connected to the anchor (a tooth that fell off)
FRAGMENTS = "fragments"  # the physics body broke into pieces under its design load
OUT_OF_DOMAIN = "out_of_domain"  # material outside the design domain
THIN = "thinner_than_pitch"  # features a pitch-sized tool or lattice cannot make
UNSTABLE = "resolution_sensitive"  # score moved more than the tolerance at finer resolution
VETOED = "vetoed"  # a person watching the search said "not what I meant" (fab.live), or near such a design
ALL_GUARDS = (DETACHED, FRAGMENTS, OUT_OF_DOMAIN, THIN, UNSTABLE, VETOED)


def detached_fraction(occupancy: np.ndarray, anchor: np.ndarray) -> float:
    """Fraction of the filled cells not connected (face neighbours) to any filled ``anchor`` cell."""
    occ = np.asarray(occupancy, dtype=bool)
    total = int(occ.sum())
    if total == 0:
        return 1.0
    labels, _ = ndimage.label(occ)
    anchored = np.unique(labels[occ & np.asarray(anchor, dtype=bool)])
    anchored = anchored[anchored > 0]
    return 1.0 - float(np.isin(labels, anchored).sum()) / total


def outside_fraction(occupancy: np.ndarray, domain: np.ndarray) -> float:
    """Fraction of the filled cells outside the design ``domain``."""
    occ = np.asarray(occupancy, dtype=bool)
    total = int(occ.sum())
    return float((occ & ~np.asarray(domain, dtype=bool)).sum()) / total if total else 0.0


def thin_fraction(occupancy: np.ndarray) -> float:
    """Fraction of the filled cells that an opening with a 2-cell square removes (features < 2 pitches
    wide: a single row or column of cells, a lone cell)."""
    occ = np.asarray(occupancy, dtype=bool)
    total = int(occ.sum())
    if total == 0:
        return 0.0
    opened = ndimage.binary_opening(occ, structure=np.ones((2,) * occ.ndim, dtype=bool))
    return float((occ & ~opened).sum()) / total
