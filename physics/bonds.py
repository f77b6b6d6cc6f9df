"""Bond kinematics shared by the laws and the analysis: which stencil bonds are intact, and how each is stretched.

Units: SI. Evaluated bond by bond in chunks of particles (numpy, not in the time loop), so memory stays bounded at
about 40 MB per chunk whatever the body size.
"""

from __future__ import annotations

import numpy as np

CHUNK = 8192


def intact_bond_mask(sim, rows: slice) -> tuple[np.ndarray, np.ndarray]:
    """(neighbour ids, intact bool) for the particles in ``rows``: (m, nb) each."""
    lat = sim.body.lattice
    cells = lat.cells[rows]
    nbr = lat.cell_to_particle[cells[:, None] + lat.flat_offset[None, :]]
    nb = nbr.shape[1]
    b = np.arange(nb)
    words = sim.bits[:, rows]  # (W, m)
    bit = (words[b >> 5, :] >> (b & 31).astype(np.uint32)[:, None]) & np.uint32(1)
    return nbr, (bit.T == 1) & (nbr >= 0)


def bond_geometry(sim):
    """Yield (rows, xi, y, r, s, length, j, intact) per chunk: reference bond vectors xi, deformed y, its length
    r, stretch s = (r - |xi|) / |xi|, neighbour ids j (0 where the stencil has none) and the intact mask."""
    lat = sim.body.lattice
    n = sim.body.count
    xi = (lat.stencil * lat.spacing).astype(np.float64)
    length = np.linalg.norm(xi, axis=1)
    for start in range(0, n, CHUNK):
        sl = slice(start, min(n, start + CHUNK))
        nbr, intact = intact_bond_mask(sim, sl)
        j = np.where(nbr >= 0, nbr, 0)
        y = xi[None, :, :] + (sim.u[j] - sim.u[sl][:, None, :])
        r = np.linalg.norm(y, axis=2)
        s = (r - length[None, :]) / length[None, :]
        yield sl, xi, y, r, s, length, j, intact
