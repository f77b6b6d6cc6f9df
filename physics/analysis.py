"""Outputs derived from a simulation's state: reactions, fragments, strain energy density, stress.

Units: SI. Per-particle fields are evaluated bond by bond in chunks of particles (numpy, not in the time loop),
so memory stays bounded at about 40 MB per chunk whatever the body size.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from physics.bonds import CHUNK, bond_geometry, intact_bond_mask


def reaction(sim, where) -> np.ndarray:
    """Total force (N) that the supports/drivers exert on the set ``where`` to hold it where it is.

    At equilibrium this balances the bond forces on the set: R = -sum_i f_internal_i V_i.
    """
    idx = sim.body.indices(where)
    return -sim.internal[idx].sum(axis=0) * sim.body.particle_volume


def fragments(sim) -> tuple[int, np.ndarray]:
    """Connected components of intact bonds: (count, label per particle)."""
    n = sim.body.count
    if _whole(sim):
        return 1, np.zeros(n, dtype=np.int64)
    rows, cols = [], []
    for start in range(0, n, CHUNK):
        sl = slice(start, min(n, start + CHUNK))
        nbr, intact = intact_bond_mask(sim, sl)
        i = np.broadcast_to(np.arange(sl.start, sl.stop)[:, None], nbr.shape)
        rows.append(i[intact])
        cols.append(nbr[intact])
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(n, n))
    count, labels = connected_components(graph, directed=False)
    return int(count), labels


def _whole(sim) -> bool:
    """True when the bond graph is certainly one piece, without building it (seconds at 200k particles): every
    bond the body started with is intact, it is one body, and its cells are one piece through face, edge and
    corner neighbours, all of which lie within the horizon."""
    lat = sim.body.lattice
    if sim.body.bodies != 1 or lat.horizon_cells < math.sqrt(3.0):
        return False
    if int(np.bitwise_count(sim.bits).sum()) != int(sim.initial_bond_count.sum()):
        return False
    ijk = lat.ijk - lat.ijk.min(axis=0)
    occupancy = np.zeros(ijk.max(axis=0) + 1, dtype=bool)
    occupancy[tuple(ijk.T)] = True
    return ndimage.label(occupancy, structure=np.ones((3,) * occupancy.ndim))[1] == 1


def strain_energy_density(sim) -> np.ndarray:
    """Per-particle strain energy density (J/m^3), the law's own (see physics/laws/__init__.py)."""
    return sim.law.strain_energy_density(sim)


def max_bond_stretch(sim) -> np.ndarray:
    """Per-particle largest stretch (e / |xi|) of its intact bonds, at least 0: where a brittle body breaks first
    (a bond breaks when its stretch passes the law's critical stretch)."""
    out = np.zeros(sim.body.count)
    for sl, _xi, _y, _r, s, _length, _j, intact in bond_geometry(sim):
        out[sl] = np.where(intact, s, 0.0).max(axis=1, initial=0.0)
    return out


def stress(sim) -> np.ndarray:
    """Per-particle stress tensor (Pa), (n, 3, 3), the law's own: exact (sigma = C:eps) for uniform strain in the
    interior (PMB: the virial 1/2 sum_j f_ij (x) xi_ij V_j; LPS: sum_j t_ij M_ij (x) xi_ij V_j)."""
    return sim.law.stress(sim)


def von_mises(sigma: np.ndarray) -> np.ndarray:
    """von Mises equivalent stress (Pa) of (n, 3, 3) stress tensors."""
    dev = sigma - np.trace(sigma, axis1=1, axis2=2)[:, None, None] / 3.0 * np.eye(3)
    return np.sqrt(1.5 * (dev * dev).sum(axis=(1, 2)))
