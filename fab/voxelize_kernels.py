"""numba kernels of the voxelizer (see :mod:`fab.voxels` for the algorithm and conventions).

A ray runs along axis 0 through every column of voxel centres (j, k). Each triangle is rasterized onto the
(axis 1, axis 2) lattice of columns one row j at a time; where it covers a column it yields a crossing x. The
parity kernels toggle a crossing bit at the first voxel whose centre lies at or beyond the crossing and turn the
bits into occupancy with a running XOR along axis 0 (whole planes, a word at a time); the phase kernel
histograms the crossings instead.

Centres that fall exactly on an edge or vertex of the projected triangles are decided by an antisymmetric rule
(each edge is evaluated from its lexicographically smaller end; a point on an edge belongs to the triangle on one
side only), so a ray through a shared edge is counted exactly once between front-facing neighbours and zero or
two times at a silhouette: parity stays right.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

import physics  # noqa: F401 -- numba's threading layer (OpenMP, see physics/__init__.py) before any kernel runs


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


@njit(cache=True, inline="always")
def _edge_setup(au: float, av: float, bu: float, bv: float) -> tuple[float, float, float, float, float]:
    """Edge a->b as (start u, start v, du, dv, sign) from its lexicographically smaller end, so that
    ``_edge_at(*setup, pu, pv)`` is ``_edge(au, av, bu, bv, pu, pv)`` to the last bit with the branch taken once."""
    if au < bu or (au == bu and av < bv):
        return au, av, bu - au, bv - av, 1.0
    return bu, bv, au - bu, av - bv, -1.0


@njit(cache=True, inline="always")
def _edge_at(su: float, sv: float, du: float, dv: float, sign: float, pu: float, pv: float) -> float:
    return sign * (du * (pv - sv) - dv * (pu - su))


@njit(cache=True, inline="always")
def _clip_columns(
    su: float, sv: float, du: float, dv: float, sign: float, pu: float, klo: int, khi: int
) -> tuple[int, int]:
    """Narrow [klo, khi] to the columns k of row pu where the edge function is >= 0. Rounding is monotone, so
    the computed edge function is monotone in k and those columns form a ray: an estimate of where it starts,
    settled by evaluating the same expression as the per-column test, gives exactly the columns that test keeps.
    """
    if klo > khi:
        return klo, khi
    if du == 0.0:  # constant along the row
        if _edge_at(su, sv, du, dv, sign, pu, float(klo)) < 0.0:
            return khi + 1, khi
        return klo, khi
    estimate = min(max(sv + dv * (pu - su) / du, klo - 1.0), khi + 1.0)
    if sign * du > 0.0:  # grows with k: the ray starts at the first k where it is >= 0
        k = int(np.ceil(estimate))
        while k > klo and _edge_at(su, sv, du, dv, sign, pu, float(k - 1)) >= 0.0:
            k -= 1
        while k <= khi and _edge_at(su, sv, du, dv, sign, pu, float(k)) < 0.0:
            k += 1
        return max(klo, k), khi
    k = int(np.floor(estimate))
    while k < khi and _edge_at(su, sv, du, dv, sign, pu, float(k + 1)) >= 0.0:
        k += 1
    while k >= klo and _edge_at(su, sv, du, dv, sign, pu, float(k)) < 0.0:
        k -= 1
    return klo, min(khi, k)


@njit(cache=True, inline="always")
def _row_crossings(
    tri: np.ndarray, t: int, pu: float, nz: int, ks: np.ndarray, xs: np.ndarray
) -> tuple[int, int]:
    """Where triangle t crosses the rays of row j = pu: the columns in ks[:n], the crossing x in xs[:n].

    Returns (n, sign): sign is +1 when the triangle is counter-clockwise in (u, v), i.e. its normal points to +x
    (the ray leaves the solid there), -1 otherwise. The one rasterizer of the parity and phase kernels.
    """
    x0, u0, v0 = tri[t, 0, 0], tri[t, 0, 1], tri[t, 0, 2]
    x1, u1, v1 = tri[t, 1, 0], tri[t, 1, 1], tri[t, 1, 2]
    x2, u2, v2 = tri[t, 2, 0], tri[t, 2, 1], tri[t, 2, 2]
    area = _edge(u0, v0, u1, v1, u2, v2)
    if area == 0.0:
        return 0, 0  # parallel to the ray
    sign = 1
    if area < 0.0:  # make it counter-clockwise in (u, v); parity does not care about winding
        x1, u1, v1, x2, u2, v2 = x2, u2, v2, x1, u1, v1
        area = -area
        sign = -1
    au, av, adu, adv, asg = _edge_setup(u1, v1, u2, v2)
    bu, bv, bdu, bdv, bsg = _edge_setup(u2, v2, u0, v0)
    cu, cv, cdu, cdv, csg = _edge_setup(u0, v0, u1, v1)
    klo = max(0, int(np.ceil(min(v0, min(v1, v2)))))
    khi = min(nz - 1, int(np.floor(max(v0, max(v1, v2)))))
    klo, khi = _clip_columns(au, av, adu, adv, asg, pu, klo, khi)
    klo, khi = _clip_columns(bu, bv, bdu, bdv, bsg, pu, klo, khi)
    klo, khi = _clip_columns(cu, cv, cdu, cdv, csg, pu, klo, khi)
    own0 = _owns_edge(u1, v1, u2, v2)
    own1 = _owns_edge(u2, v2, u0, v0)
    own2 = _owns_edge(u0, v0, u1, v1)
    n = 0
    for k in range(klo, khi + 1):
        pv = float(k)
        w0 = _edge_at(au, av, adu, adv, asg, pu, pv)
        w1 = _edge_at(bu, bv, bdu, bdv, bsg, pu, pv)
        w2 = _edge_at(cu, cv, cdu, cdv, csg, pu, pv)
        if w0 < 0.0 or w1 < 0.0 or w2 < 0.0:
            continue
        if w0 == 0.0 and not own0:
            continue
        if w1 == 0.0 and not own1:
            continue
        if w2 == 0.0 and not own2:
            continue
        ks[n] = k
        xs[n] = (w0 * x0 + w1 * x1 + w2 * x2) / area
        n += 1
    return n, sign


@njit(cache=True)
def row_bins(tri: np.ndarray, ny: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of the triangles whose u range holds each row j (threads own rows, so they never race)."""
    nt = tri.shape[0]
    lo = np.empty(nt, dtype=np.int64)
    hi = np.empty(nt, dtype=np.int64)
    counts = np.zeros(ny + 1, dtype=np.int64)
    for t in range(nt):
        lo[t] = max(0, int(np.ceil(min(tri[t, 0, 1], min(tri[t, 1, 1], tri[t, 2, 1])))))
        hi[t] = min(ny - 1, int(np.floor(max(tri[t, 0, 1], max(tri[t, 1, 1], tri[t, 2, 1])))))
        for j in range(lo[t], hi[t] + 1):
            counts[j + 1] += 1
    for j in range(ny):
        counts[j + 1] += counts[j]
    out = np.empty(counts[ny], dtype=np.int64)
    fill = counts[:-1].copy()
    for t in range(nt):
        for j in range(lo[t], hi[t] + 1):
            out[fill[j]] = t
            fill[j] += 1
    return counts, out


@njit(cache=True, parallel=True)
def toggle_crossings(
    tri: np.ndarray,  # (F, 3, 3) float64 vertex coordinates in grid units (voxel centre (i,j,k) at (i,j,k))
    row_start: np.ndarray,  # (ny + 1,) CSR offsets into row_tris, per j
    row_tris: np.ndarray,  # triangle ids whose u range holds each row
    out: np.ndarray,  # (nx, ny, nz) uint8, zeros on entry
    threads: int,
) -> np.ndarray:
    """Crossing bits: flips ``out[i, j, k]`` at the first voxel whose centre lies at or beyond each crossing of
    ray (j, k). Threads own interleaved rows j, so they never write the same byte."""
    nx, ny, nz = out.shape
    for thread in prange(threads):
        ks = np.empty(nz, dtype=np.int64)
        xs = np.empty(nz, dtype=np.float64)
        for j in range(thread, ny, threads):
            pu = float(j)
            for s in range(row_start[j], row_start[j + 1]):
                n, _ = _row_crossings(tri, row_tris[s], pu, nz, ks, xs)
                for m in range(n):
                    i = int(np.ceil(xs[m]))  # first centre at or beyond the crossing
                    if i < 0:
                        i = 0
                    if i < nx:
                        out[i, j, ks[m]] ^= np.uint8(1)
    return out


@njit(cache=True)
def xor_prefix(out: np.ndarray) -> int:
    """Running XOR of a C-ordered (nx, ny, nz) uint8 array of 0 / 1 bytes along axis 0, in place (crossing bits
    to parity); returns the number of ones after it (the filled count, without another pass over the grid).

    Byte b of the flat array takes byte b - plane (plane = ny * nz), already final when b is reached, so the
    scan runs over the flat array eight bytes (one uint64) at a time; when the plane is not a whole number of
    words, the word one plane back is assembled from the two aligned words it straddles (little-endian shifts).
    A word of 0 / 1 bytes times 0x0101010101010101 holds their sum in its top byte. Memory-bound: one read and
    one write of the grid.
    """
    nx, ny, nz = out.shape
    plane = ny * nz
    n = nx * plane
    flat = out.reshape(n)
    q, r = plane // 8, plane % 8
    count = 0
    if q == 0:  # planes under a word: bytewise
        for b in range(n):
            if b >= plane:
                flat[b] ^= flat[b - plane]
            count += flat[b]
        return count
    first, last = (plane + 7) // 8, n // 8  # the whole words from plane 1 on
    for b in range(min(n, 8 * first)):
        if b >= plane:
            flat[b] ^= flat[b - plane]
        count += flat[b]
    words = flat[: 8 * last].view(np.uint64)
    ones, top = np.uint64(0x0101010101010101), np.uint64(56)
    if r == 0:
        for w in range(first, last):
            word = words[w] ^ words[w - q]
            words[w] = word
            count += int((word * ones) >> top)
    else:
        low, high = np.uint64(8 * (8 - r)), np.uint64(8 * r)
        for w in range(first, last):
            word = words[w] ^ ((words[w - q - 1] >> low) | (words[w - q] << high))
            words[w] = word
            count += int((word * ones) >> top)
    for b in range(max(8 * first, 8 * last), n):
        flat[b] ^= flat[b - plane]
        count += flat[b]
    return count


@njit(cache=True, parallel=True)
def phase_histogram(
    tri: np.ndarray, row_start: np.ndarray, row_tris: np.ndarray, ny: int, nz: int, bins: int, threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """Filled count along axis 0 as a function of a shift of the grid along it, from the same crossings as
    ``toggle_crossings`` (same rasterizer and tie rule). A crossing at x fills voxels from ceil(x - d) when entering
    (the triangle's normal points to -x) and stops there when leaving, so count(d) = sum(sign * ceil(x - d)).
    With y = x + 1/2 and d = (b + 1/2) / bins - 1/2, ceil(x - d) = ceil(y) - [b >= bins * (y - ceil(y) + 1) - 1/2]:
    each crossing adds its sign to one histogram bin. Returns per-thread base sums and (threads, bins + 1)
    histograms (each thread sums its own interleaved rows, so they never race). Axes must be a cyclic
    permutation of (x, y, z) to keep the signs.
    """
    base = np.zeros(threads, dtype=np.int64)
    hist = np.zeros((threads, bins + 1), dtype=np.int64)
    for thread in prange(threads):
        ks = np.empty(nz, dtype=np.int64)
        xs = np.empty(nz, dtype=np.float64)
        for j in range(thread, ny, threads):  # interleaved rows balance the threads' work
            pu = float(j)
            for s in range(row_start[j], row_start[j + 1]):
                n, sign = _row_crossings(tri, row_tris[s], pu, nz, ks, xs)
                for m in range(n):
                    y = xs[m] + 0.5
                    top = np.ceil(y)
                    base[thread] += sign * int(top)
                    hist[thread, int(np.ceil((y - top + 1.0) * bins - 0.5))] += sign
    return base, hist


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
