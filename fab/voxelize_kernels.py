"""numba kernels of the voxelizer (see :mod:`fab.voxels` for the algorithm and conventions).

A ray runs along axis 0 through every column of voxel centres (j, k). Each triangle is rasterized onto the
(axis 1, axis 2) lattice of columns; where it covers a column it toggles a crossing bit at the first voxel whose
centre lies at or beyond the crossing. A running XOR along axis 0 then gives the occupancy.

Centres that fall exactly on an edge or vertex of the projected triangles are decided by an antisymmetric rule
(each edge is evaluated from its lexicographically smaller end; a point on an edge belongs to the triangle on one
side only), so a ray through a shared edge is counted exactly once between front-facing neighbours and zero or
two times at a silhouette: parity stays right.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _edge(au: float, av: float, bu: float, bv: float, pu: float, pv: float) -> float:
    """Signed area of (a, b, p), evaluated from the lexicographically smaller end so that edge(a,b) == -edge(b,a)."""
    if au < bu or (au == bu and av < bv):
        return (bu - au) * (pv - av) - (bv - av) * (pu - au)
    return -((au - bu) * (pv - bv) - (av - bv) * (pu - bu))


@njit(cache=True, inline="always")
def _owns_edge(au: float, av: float, bu: float, bv: float) -> bool:
    """Tie rule for a point exactly on edge a->b of a counter-clockwise triangle (antisymmetric in a, b)."""
    dv = bv - av
    if dv != 0.0:
        return dv < 0.0
    return bu - au > 0.0


@njit(cache=True, parallel=True)
def crossing_flips(
    tri: np.ndarray,  # (F, 3, 3) float64 vertex coordinates in grid units (voxel centre (i,j,k) at (i,j,k))
    slab_start: np.ndarray,  # (nz + 1,) CSR offsets into slab_tris, per k
    slab_tris: np.ndarray,  # triangle ids overlapping each k column row
    nx: int,
    ny: int,
    nz: int,
) -> np.ndarray:
    """Toggle bits at the first centre at/after each ray-triangle crossing; shape (nx, ny, nz) uint8."""
    flips = np.zeros((nx, ny, nz), dtype=np.uint8)
    for k in prange(nz):
        pv = float(k)
        for s in range(slab_start[k], slab_start[k + 1]):
            t = slab_tris[s]
            x0, u0, v0 = tri[t, 0, 0], tri[t, 0, 1], tri[t, 0, 2]
            x1, u1, v1 = tri[t, 1, 0], tri[t, 1, 1], tri[t, 1, 2]
            x2, u2, v2 = tri[t, 2, 0], tri[t, 2, 1], tri[t, 2, 2]
            area = _edge(u0, v0, u1, v1, u2, v2)
            if area == 0.0:
                continue  # parallel to the ray
            if area < 0.0:  # make it counter-clockwise in (u, v); parity does not care about winding
                x1, u1, v1, x2, u2, v2 = x2, u2, v2, x1, u1, v1
                area = -area
            jmin = max(0, int(np.ceil(min(u0, min(u1, u2)))))
            jmax = min(ny - 1, int(np.floor(max(u0, max(u1, u2)))))
            for j in range(jmin, jmax + 1):
                pu = float(j)
                w0 = _edge(u1, v1, u2, v2, pu, pv)
                w1 = _edge(u2, v2, u0, v0, pu, pv)
                w2 = _edge(u0, v0, u1, v1, pu, pv)
                if w0 < 0.0 or w1 < 0.0 or w2 < 0.0:
                    continue
                if w0 == 0.0 and not _owns_edge(u1, v1, u2, v2):
                    continue
                if w1 == 0.0 and not _owns_edge(u2, v2, u0, v0):
                    continue
                if w2 == 0.0 and not _owns_edge(u0, v0, u1, v1):
                    continue
                x = (w0 * x0 + w1 * x1 + w2 * x2) / area
                i = int(np.ceil(x))
                if i < 0:
                    i = 0
                if i < nx:
                    flips[i, j, k] ^= np.uint8(1)
    return flips


@njit(cache=True, parallel=True)
def running_xor(flips: np.ndarray) -> np.ndarray:
    """Occupancy from crossing bits: a running XOR along axis 0 (in place on ``flips``), returned as bool."""
    nx, ny, nz = flips.shape
    for j in prange(ny):
        for i in range(1, nx):
            for k in range(nz):
                flips[i, j, k] ^= flips[i - 1, j, k]
    return flips.view(np.bool_)


@njit(cache=True)
def slab_bins(kmin: np.ndarray, kmax: np.ndarray, nz: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of the triangles overlapping each k row (so threads own disjoint k and never race)."""
    counts = np.zeros(nz + 1, dtype=np.int64)
    for t in range(kmin.shape[0]):
        for k in range(kmin[t], kmax[t] + 1):
            counts[k + 1] += 1
    for k in range(nz):
        counts[k + 1] += counts[k]
    out = np.empty(counts[nz], dtype=np.int64)
    fill = counts[:-1].copy()
    for t in range(kmin.shape[0]):
        for k in range(kmin[t], kmax[t] + 1):
            out[fill[k]] = t
            fill[k] += 1
    return counts, out


@njit(cache=True, parallel=True)
def winding_numbers(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Generalized winding number (Jacobson et al. 2013) of each point: ~1 inside, ~0 outside, tolerant of holes."""
    n = points.shape[0]
    out = np.empty(n, dtype=np.float64)
    for p in prange(n):
        total = 0.0
        for t in range(tri.shape[0]):
            ax = tri[t, 0, 0] - points[p, 0]
            ay = tri[t, 0, 1] - points[p, 1]
            az = tri[t, 0, 2] - points[p, 2]
            bx = tri[t, 1, 0] - points[p, 0]
            by = tri[t, 1, 1] - points[p, 1]
            bz = tri[t, 1, 2] - points[p, 2]
            cx = tri[t, 2, 0] - points[p, 0]
            cy = tri[t, 2, 1] - points[p, 1]
            cz = tri[t, 2, 2] - points[p, 2]
            la = np.sqrt(ax * ax + ay * ay + az * az)
            lb = np.sqrt(bx * bx + by * by + bz * bz)
            lc = np.sqrt(cx * cx + cy * cy + cz * cz)
            det = ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx)
            dot = la * lb * lc + (ax * bx + ay * by + az * bz) * lc
            dot += (bx * cx + by * cy + bz * cz) * la + (cx * ax + cy * ay + cz * az) * lb
            total += 2.0 * np.arctan2(det, dot)
        out[p] = total / (4.0 * np.pi)
    return out
