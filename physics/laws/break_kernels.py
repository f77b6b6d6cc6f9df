"""A break check without the forces: every intact bond over its limit at the given displacements breaks.

A failure test's settle round (physics/newton.py) breaks the bonds over their limit at a state and then needs
the forces with those bonds gone, so the forces of a whole evaluation with the old bonds would be thrown away.
This pass runs only the limit test of the force kernels (lps_kernels._force_run's per-bond stretch and its
count of intact bonds over min(s_i, s_j), vectorized the same way over the runs of the lattice's RunFrame) and,
where a particle has such a bond, the clearing pass the force kernels run there (pmb_kernels._break_over_limit):
the bonds a full evaluation breaks, at a fraction of its cost.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from physics.lattice import RUN_LENGTH
from physics.laws.pmb_kernels import _break_over_limit, _if_bit

# Written out, as in lps_kernels: numba's cache checks this file, not the module a global comes from.
LANES = 160
assert LANES == RUN_LENGTH, "physics.lattice.RUN_LENGTH changed: set LANES to it (numba recompiles this file)"
SCRATCH = 5  # over-limit count, own u (3), own critical stretch


@njit(cache=True, fastmath=True, error_model="numpy")
def _over_run(
    p0: int,
    i0: int,
    lanes: int,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    scrit: np.ndarray,
    bits: np.ndarray,
    off: np.ndarray,
    order: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,
    inv_len: np.ndarray,
    acc: np.ndarray,
) -> None:
    """The count of intact bonds over their limit of the particles of one run into acc row 0 (lps_kernels
    _force_run's arithmetic for e and the test)."""
    real = ux.dtype.type
    zero = real(0.0)
    one = real(1.0)
    tiny = real(1e-30)
    n = np.uint64(lanes)
    p = np.uint64(p0)
    i = np.uint64(i0)
    s = np.uint64(LANES)
    au = s  # own u: rows 1-3
    asc = np.uint64(4 * LANES)  # own critical stretch
    for k in range(n):
        acc[k] = zero
        acc[au + k] = ux[p + k]
        acc[au + s + k] = uy[p + k]
        acc[au + 2 * s + k] = uz[p + k]
        acc[asc + k] = scrit[p + k]
    for t in range(order.shape[0]):
        b = np.uint64(order[t])
        q = np.uint64(p0 + off[b])
        w = b >> 5
        mask = np.uint32(1) << np.uint32(b & 31)
        xb = xix[b]
        yb = xiy[b]
        zb = xiz[b]
        lb = length[b]
        ilb = inv_len[b]
        x2 = xb + xb
        y2 = yb + yb
        z2 = zb + zb
        for k in range(n):
            intact = _if_bit(bits[w, i + k], mask, one)
            qk = q + k
            ex = ux[qk] - acc[au + k]
            ey = uy[qk] - acc[au + s + k]
            ez = uz[qk] - acc[au + 2 * s + k]
            yx = xb + ex
            yy = yb + ey
            yz = zb + ez
            rr = np.sqrt(yx * yx + yy * yy + yz * yz)
            rl = rr + lb
            inv = one / max(rr * rl, tiny)
            e = (ex * (x2 + ex) + ey * (y2 + ey) + ez * (z2 + ez)) * rr * inv
            lim = min(acc[asc + k], scrit[qk])
            acc[k] += intact if e * ilb > lim else zero


@njit(cache=True, parallel=True)
def break_over_limit(
    runs: np.ndarray,  # (r, 4) int64 runs of the frame: first cell, first frame particle, count, lanes
    chunks: np.ndarray,  # run-chunk boundaries (the frame's run_chunks)
    ux: np.ndarray,  # frame grids
    uy: np.ndarray,
    uz: np.ndarray,
    scrit: np.ndarray,  # (ncells,) critical stretch per particle
    bits: np.ndarray,  # (W, n) uint32 intact-bond mask in frame order
    particle: np.ndarray,  # (n,) int32 lattice particle id of each frame particle
    state_bits: np.ndarray,  # (W, n) uint32 the state's mask (lattice order): bonds over their limit are cleared
    off: np.ndarray,
    order: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,
    inv_len: np.ndarray,
    newly_broken: np.ndarray,  # (n,) int32 output: bonds broken per particle
) -> int:
    """Clear the bits of every intact bond whose stretch exceeds min(s_i, s_j) (both ends); returns the sum of
    newly_broken (each broken bond counted at both ends)."""
    total = 0
    for c in prange(chunks.shape[0] - 1):
        acc = np.empty(SCRATCH * LANES, dtype=ux.dtype)
        for r in range(chunks[c], chunks[c + 1]):
            p0, i0, count, lanes = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3]
            _over_run(p0, i0, lanes, ux, uy, uz, scrit, bits, off, order, xix, xiy, xiz, length, inv_len, acc)
            for k in range(count):
                i = particle[i0 + k]
                broken = 0
                if acc[k] > 0.0:
                    broken = _break_over_limit(
                        i, p0 + k, state_bits, off, ux, uy, uz, xix, xiy, xiz, length, inv_len, scrit
                    )
                newly_broken[i] = broken
                total += broken
    return total
