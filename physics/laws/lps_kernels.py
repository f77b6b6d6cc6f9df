"""numba kernels of the linear peridynamic solid (LPS, state-based).

Same storage and loop order as the PMB kernels (physics/laws/pmb_kernels.py): float32 displacements on the padded
flat grid, bond ``b`` of the particle in cell ``p`` joins cell ``p + off[b]``, uint32 intact-bond words
``bits[w, i]``. Every particle gathers only its own bonds (no scatter), so results do not depend on the thread
count. The pair kernels (end of the file, the law's default) compute each bond once and scatter into per-cell
accumulators in fixed blocks that share no written cell (pmb_kernels.PairPlan): deterministic too. Loops run over the runs of occupied cells of the lattice's RunFrame (as there), then stencil entries, then
the particles of the run: for a fixed bond every per-cell array is read at a fixed offset from the run,
contiguously, and the inner loop vectorizes across particles. As there, the bond bit is tested in 32-bit lanes
(pmb_kernels._if_bit; numba's 64-bit widening put it on 512-bit registers) and the run kernels compile with
error_model="numpy" (a division-by-zero check blocks vectorization).

Per particle i with bond extensions e_b = |y_b| - |xi_b| (intact bonds only; V the particle volume, the same for
every particle, so it multiplies the sums once at the end). The kernels evaluate e_b as eta_b.(xi_b + y_b) /
(|y_b| + |xi_b|), eta_b the displacement difference: the same number without float32 cancellation at small strains:

    theta_i = V sum_b g_ib e_b,          g_ib = xi_b . A_i . xi_b / |xi_b|     (dilatation)
    P_i     = V sum_b beta_ib wd_b |xi_b| e_b,   beta_ib = B_i . phi_b (phi: even products of n_b)
    lam_i   = K theta_i - (P_i - theta_i mb_i / d) / d,   mb_i = V sum_b beta_ib wd_b |xi_b|^2
    t_ib    = lam_i g_ib + beta_ib wd_b (e_b - theta_i |xi_b| / d)               (scalar force state)
    f_i     = V sum_b (t_ib + t_jb) y_b / |y_b|

t is the exact derivative of W_i = K theta_i^2 / 2 + 1/2 sum_b beta_ib wd_b (e_b - theta_i |xi_b| / d)^2 V_j, so
the forces conserve energy. A_i = (d / m_i) I and B_i = alpha_i I is plain LPS; the surface correction solves
them per particle (see physics/laws/lps.py).

What pass 2 needs of a bond's far end lives in a field-major table ``fields[NFIELDS, ncells]`` (float32): lam A
(rows 0-5, written by pass 1), B (6-11), theta (12, pass 1), critical stretch (13). Field-major, so that the
particles of a run read each field contiguously (vector loads, no gathers).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from physics.lattice import RUN_LENGTH
from physics.laws.pmb_kernels import _break_over_limit, _if_bit  # the same bond arithmetic as PMB

LAM, BM, THETA, SCRIT = 0, 6, 12, 13
NFIELDS = 14

# Longest run a kernel processes at once. As in the PMB kernels, the per-run accumulators and copies of the run's
# own values are rows of one scratch vector at fixed multiples of LANES: LLVM sees one written object at constant
# offsets and needs one runtime alias check per array it reads.
# Written out, not RUN_LENGTH itself: numba's cache checks this file, not the module a global comes from, so a new
# run length must change this line (kernels cached with shorter scratch rows would write past them).
LANES = 160
assert LANES == RUN_LENGTH, "physics.lattice.RUN_LENGTH changed: set LANES to it (numba recompiles this file)"
SCRATCH_DIL = 17  # theta, P, own u (3), own A (6), own B (6)
SCRATCH_FORCE = 21  # fx, fy, fz, over, own u (3), own lam A (6), own B (6), own theta, own critical stretch


@njit(cache=True, inline="always")
def _popcount(v: np.uint32) -> int:
    v = v - ((v >> np.uint32(1)) & np.uint32(0x55555555))
    v = (v & np.uint32(0x33333333)) + ((v >> np.uint32(2)) & np.uint32(0x33333333))
    v = (v + (v >> np.uint32(4))) & np.uint32(0x0F0F0F0F)
    return np.int64((v * np.uint32(0x01010101)) >> np.uint32(24))


@njit(cache=True, fastmath=True, error_model="numpy")
def _dilatation_run(
    p0: int,
    i0: int,
    lanes: int,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    amat: np.ndarray,
    fields: np.ndarray,
    bits: np.ndarray,
    off: np.ndarray,
    order: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,
    pq: np.ndarray,
    phi: np.ndarray,
    wdx: np.ndarray,
    acc: np.ndarray,
) -> None:
    """sum_b g_ib e_b and sum_b beta_ib wd_b |xi_b| e_b of the particles of one run into acc rows 0 and 1.

    Indices are unsigned (no wraparound selects, which would turn vector loads into scalar inserts); each particle
    still sums its bonds in stencil ``order``, so the result does not depend on the thread count."""
    real = ux.dtype.type  # float32, or float64 on the float64 path
    zero = real(0.0)
    one = real(1.0)
    n = np.uint64(lanes)
    p = np.uint64(p0)
    i = np.uint64(i0)
    a1 = np.uint64(LANES)
    au = np.uint64(2 * LANES)  # own u: rows 2-4
    aa = np.uint64(5 * LANES)  # own A: rows 5-10
    ab = np.uint64(11 * LANES)  # own B: rows 11-16
    s = np.uint64(LANES)
    for k in range(n):
        acc[k] = zero
        acc[a1 + k] = zero
        acc[au + k] = ux[p + k]
        acc[au + s + k] = uy[p + k]
        acc[au + 2 * s + k] = uz[p + k]
        for c in range(6):
            acc[aa + c * s + k] = amat[c, p + k]
            acc[ab + c * s + k] = fields[BM + c, p + k]
    for t in range(order.shape[0]):
        b = np.uint64(order[t])
        q = np.uint64(p0 + off[b])
        w = b >> 5
        mask = np.uint32(1) << np.uint32(b & 31)
        xb = xix[b]
        yb = xiy[b]
        zb = xiz[b]
        x2 = xb + xb
        y2 = yb + yb
        z2 = zb + zb
        lb = length[b]
        g0, g1, g2, g3, g4, g5 = pq[0, b], pq[1, b], pq[2, b], pq[3, b], pq[4, b], pq[5, b]
        h0, h1, h2, h3, h4, h5 = phi[0, b], phi[1, b], phi[2, b], phi[3, b], phi[4, b], phi[5, b]
        wb = wdx[b]
        for k in range(n):
            intact = _if_bit(bits[w, i + k], mask, one)  # 32-bit lanes (pmb_kernels._if_bit)
            ex = ux[q + k] - acc[au + k]
            ey = uy[q + k] - acc[au + s + k]
            ez = uz[q + k] - acc[au + 2 * s + k]
            yx = xb + ex
            yy = yb + ey
            yz = zb + ez
            # e = |y| - |xi| = eta.(xi + y) / (|y| + |xi|): no float32 cancellation at small strains.
            rl = np.sqrt(yx * yx + yy * yy + yz * yz) + lb
            e = intact * (ex * (x2 + ex) + ey * (y2 + ey) + ez * (z2 + ez)) / rl
            g = (
                acc[aa + k] * g0
                + acc[aa + s + k] * g1
                + acc[aa + 2 * s + k] * g2
                + acc[aa + 3 * s + k] * g3
                + acc[aa + 4 * s + k] * g4
                + acc[aa + 5 * s + k] * g5
            )
            beta = (
                acc[ab + k] * h0
                + acc[ab + s + k] * h1
                + acc[ab + 2 * s + k] * h2
                + acc[ab + 3 * s + k] * h3
                + acc[ab + 4 * s + k] * h4
                + acc[ab + 5 * s + k] * h5
            )
            acc[k] += g * e
            acc[a1 + k] += beta * wb * e


@njit(cache=True, parallel=True)
def lps_dilatation(
    runs: np.ndarray,  # (r, 4) int64 runs of the lattice: first cell, first particle, length, lanes
    chunks: np.ndarray,  # (k + 1,) boundaries of groups of runs, the parallel work units
    ux: np.ndarray,  # (ncells,) float32 displacements on the padded grid
    uy: np.ndarray,
    uz: np.ndarray,
    amat: np.ndarray,  # (6, ncells) float32 Voigt components of A per particle
    fields: np.ndarray,  # (NFIELDS, ncells) float32 per-cell table (module docstring); theta and lam A written
    mb: np.ndarray,  # (ncells,) float32 sum_b beta_ib wd_b |xi_b|^2 V_j over intact bonds
    bits: np.ndarray,  # (W, n) uint32 intact-bond mask in frame order (physics.lattice.RunFrame)
    particle: np.ndarray,  # (n,) int32 lattice particle id of each frame particle
    counts: np.ndarray,  # (n,) int64 intact-bond count per (lattice) particle at the last refresh; updated
    changed: np.ndarray,  # (n,) bool output: whose intact-bond count differs from ``counts``
    off: np.ndarray,  # (nb,) int64 flat offsets
    order: np.ndarray,  # (nb,) int64 order in which the kernel visits the stencil (neighbour rows together)
    xix: np.ndarray,  # (nb,) float32 reference bond vector
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,  # (nb,) float32 |xi|
    pq: np.ndarray,  # (6, nb) float32 [xx, yy, zz, 2yz, 2xz, 2xy] / |xi| of each bond vector
    phi: np.ndarray,  # (6, nb) float32 [nx^2, ny^2, nz^2, ny^2 nz^2, nx^2 nz^2, nx^2 ny^2]
    wdx: np.ndarray,  # (nb,) float32 deviatoric weight times |xi|
    volume: float,  # V, every particle's volume
    bulk: float,  # K (3D) or the 2D bulk modulus
    dim: int,  # 2 or 3
) -> int:
    """Pass 1: theta_i and lam_i A_i. Also counts each particle's intact bonds and returns how many particles'
    counts changed (bonds broken last step, pre-cracks): their A, B, mb are stale and this pass must be redone
    after refreshing them. Counting here saves the separate pass over the bond words at every step."""
    words = bits.shape[0]
    real = ux.dtype.type  # float32, or float64 on the float64 path
    inv_d = real(1.0 / dim)
    kb = real(bulk)
    vol = real(volume)
    total = 0
    for c in prange(chunks.shape[0] - 1):
        acc = np.empty(SCRATCH_DIL * LANES, dtype=ux.dtype)
        for r in range(chunks[c], chunks[c + 1]):
            p0, i0, count, lanes = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3]
            _dilatation_run(
                p0, i0, lanes, ux, uy, uz, amat, fields, bits, off, order, xix, xiy, xiz, length, pq, phi,
                wdx, acc,
            )  # fmt: skip
            for k in range(count):
                i = i0 + k
                o = particle[i]
                p = p0 + k
                th = vol * acc[k]
                pm = vol * acc[LANES + k]
                lam = kb * th - inv_d * (pm - th * mb[p] * inv_d)
                fields[THETA, p] = th
                for j in range(6):
                    fields[LAM + j, p] = lam * amat[j, p]
                nbonds = 0
                for w in range(words):
                    nbonds += _popcount(bits[w, i])
                if nbonds != counts[o]:
                    counts[o] = nbonds
                    changed[o] = True
                    total += 1
                else:
                    changed[o] = False
    return total


@njit(cache=True, fastmath=True, error_model="numpy")
def _force_run(
    p0: int,
    i0: int,
    lanes: int,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    fields: np.ndarray,
    scrit: np.ndarray | None,
    bits: np.ndarray,
    off: np.ndarray,
    order: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,
    inv_len: np.ndarray,
    pq: np.ndarray,
    phi: np.ndarray,
    wd: np.ndarray,
    xd: np.ndarray,
    acc: np.ndarray,
) -> None:
    """Force sums of the particles of one run into acc rows fx, fy, fz (without the factor V) and the count of
    intact bonds over their limit. ``scrit`` None (bonds never break): no limit test; numba compiles that loop
    separately."""
    real = ux.dtype.type  # float32, or float64 on the float64 path
    zero = real(0.0)
    one = real(1.0)
    tiny = real(1e-30)
    n = np.uint64(lanes)
    p = np.uint64(p0)
    i = np.uint64(i0)
    s = np.uint64(LANES)
    a1 = s
    a2 = np.uint64(2 * LANES)
    a3 = np.uint64(3 * LANES)
    au = np.uint64(4 * LANES)  # own u: rows 4-6
    al = np.uint64(7 * LANES)  # own lam A: rows 7-12
    ab = np.uint64(13 * LANES)  # own B: rows 13-18
    at = np.uint64(19 * LANES)  # own theta
    asc = np.uint64(20 * LANES)  # own critical stretch
    lam0, lam1, lam2 = np.uint64(LAM), np.uint64(LAM + 1), np.uint64(LAM + 2)
    lam3, lam4, lam5 = np.uint64(LAM + 3), np.uint64(LAM + 4), np.uint64(LAM + 5)
    bm0, bm1, bm2 = np.uint64(BM), np.uint64(BM + 1), np.uint64(BM + 2)
    bm3, bm4, bm5 = np.uint64(BM + 3), np.uint64(BM + 4), np.uint64(BM + 5)
    th = np.uint64(THETA)
    for k in range(n):
        acc[k] = zero
        acc[a1 + k] = zero
        acc[a2 + k] = zero
        acc[a3 + k] = zero
        acc[au + k] = ux[p + k]
        acc[au + s + k] = uy[p + k]
        acc[au + 2 * s + k] = uz[p + k]
        for c in range(6):
            acc[al + c * s + k] = fields[LAM + c, p + k]
            acc[ab + c * s + k] = fields[BM + c, p + k]
        acc[at + k] = fields[THETA, p + k]
        if scrit is not None:
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
        g0, g1, g2, g3, g4, g5 = pq[0, b], pq[1, b], pq[2, b], pq[3, b], pq[4, b], pq[5, b]
        h0, h1, h2, h3, h4, h5 = phi[0, b], phi[1, b], phi[2, b], phi[3, b], phi[4, b], phi[5, b]
        wb = wd[b]
        xdb = xd[b]
        x2 = xb + xb
        y2 = yb + yb
        z2 = zb + zb
        for k in range(n):
            intact = _if_bit(bits[w, i + k], mask, one)  # 32-bit lanes (pmb_kernels._if_bit)
            qk = q + k
            ex = ux[qk] - acc[au + k]
            ey = uy[qk] - acc[au + s + k]
            ez = uz[qk] - acc[au + 2 * s + k]
            yx = xb + ex
            yy = yb + ey
            yz = zb + ez
            rr = np.sqrt(yx * yx + yy * yy + yz * yz)
            # e = |y| - |xi| = eta.(xi + y) / (|y| + |xi|) without float32 cancellation; one reciprocal gives
            # both e and the unit vector: inv = 1 / (|y| (|y| + |xi|)).
            rl = rr + lb
            inv = one / max(rr * rl, tiny)
            e = (ex * (x2 + ex) + ey * (y2 + ey) + ez * (z2 + ez)) * rr * inv
            # lam_i g_ib + lam_j g_jb in one product with the bond's quadratic form.
            lg = (
                (acc[al + k] + fields[lam0, qk]) * g0
                + (acc[al + s + k] + fields[lam1, qk]) * g1
                + (acc[al + 2 * s + k] + fields[lam2, qk]) * g2
                + (acc[al + 3 * s + k] + fields[lam3, qk]) * g3
                + (acc[al + 4 * s + k] + fields[lam4, qk]) * g4
                + (acc[al + 5 * s + k] + fields[lam5, qk]) * g5
            )
            beta_i = (
                acc[ab + k] * h0
                + acc[ab + s + k] * h1
                + acc[ab + 2 * s + k] * h2
                + acc[ab + 3 * s + k] * h3
                + acc[ab + 4 * s + k] * h4
                + acc[ab + 5 * s + k] * h5
            )
            beta_j = (
                fields[bm0, qk] * h0
                + fields[bm1, qk] * h1
                + fields[bm2, qk] * h2
                + fields[bm3, qk] * h3
                + fields[bm4, qk] * h4
                + fields[bm5, qk] * h5
            )
            # Deviatoric parts of both ends: beta wd (e - theta |xi| / d).
            tb = lg + wb * ((beta_i + beta_j) * e - (beta_i * acc[at + k] + beta_j * fields[th, qk]) * xdb)
            fac = intact * tb * rl * inv
            acc[k] += fac * yx
            acc[a1 + k] += fac * yy
            acc[a2 + k] += fac * yz
            if scrit is not None:
                # Count intact bonds past their limit (a sum vectorizes; the rare clearing pass runs afterwards).
                lim = min(acc[asc + k], scrit[qk])
                acc[a3 + k] += intact if e * ilb > lim else zero


@njit(cache=True, parallel=True)
def lps_forces(
    runs: np.ndarray,  # (r, 4) int64 runs of the lattice: first cell, first particle, length, lanes
    chunks: np.ndarray,  # (k + 1,) boundaries of groups of runs, the parallel work units
    ux: np.ndarray,  # (ncells,) float32 displacements on the padded grid
    uy: np.ndarray,
    uz: np.ndarray,
    fields: np.ndarray,  # (NFIELDS, ncells) float32 per-cell table, after lps_dilatation
    scrit: np.ndarray | None,  # (ncells,) float32 critical stretch per particle; None: bonds never break
    bits: np.ndarray,  # (W, n) uint32 intact-bond mask in frame order (physics.lattice.RunFrame)
    particle: np.ndarray,  # (n,) int32 lattice particle id of each frame particle (outputs, state_bits)
    state_bits: np.ndarray,  # (W, n) uint32 the state's mask (lattice order): bonds past their limit break
    off: np.ndarray,  # (nb,) int64 flat offsets
    order: np.ndarray,  # (nb,) int64 order in which the kernel visits the stencil
    xix: np.ndarray,  # (nb,) float32 reference bond vector
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,  # (nb,) float32 |xi|
    inv_len: np.ndarray,  # (nb,) float32 1 / |xi|
    pq: np.ndarray,  # (6, nb) float32 [xx, yy, zz, 2yz, 2xz, 2xy] / |xi|
    phi: np.ndarray,  # (6, nb) float32 [nx^2, ny^2, nz^2, ny^2 nz^2, nx^2 nz^2, nx^2 ny^2]
    wd: np.ndarray,  # (nb,) float32 deviatoric weight
    xd: np.ndarray,  # (nb,) float32 |xi| / d
    volume: float,  # V, every particle's volume
    force: np.ndarray,  # (n, 3) float64 output force density
    newly_broken: np.ndarray,  # (n,) int32 output: bonds broken at this step per particle
) -> None:
    """Pass 2: force densities; bonds whose stretch passed min(s_i, s_j) break after contributing this step."""
    vol = ux.dtype.type(volume)
    for c in prange(chunks.shape[0] - 1):
        acc = np.empty(SCRATCH_FORCE * LANES, dtype=ux.dtype)
        for r in range(chunks[c], chunks[c + 1]):
            p0, i0, count, lanes = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3]
            _force_run(
                p0, i0, lanes, ux, uy, uz, fields, scrit, bits, off, order, xix, xiy, xiz, length, inv_len,
                pq, phi, wd, xd, acc,
            )  # fmt: skip
            for k in range(count):
                i = particle[i0 + k]
                force[i, 0] = vol * acc[k]
                force[i, 1] = vol * acc[LANES + k]
                force[i, 2] = vol * acc[2 * LANES + k]
                broken = 0
                if scrit is not None and acc[3 * LANES + k] > 0.0:
                    # Rare: some bond passed its limit this step; clear exactly those bits (same arithmetic).
                    broken = _break_over_limit(
                        i, p0 + k, state_bits, off, ux, uy, uz, xix, xiy, xiz, length, inv_len, scrit
                    )
                newly_broken[i] = broken


# ---- pass 2 over each bond once (pmb_kernels.PairPlan: blocks, side buffers) --------------------------------------------------------

SCRATCH_PAIR = 26  # as SCRATCH_FORCE, the run's live lanes (1, or 0 past its end), one bond's fx, fy, fz, over


# A bond's tensor components (Voigt order xx, yy, zz, yz, xz, xy) where its pq and phi can be nonzero, by plane
# (LPS.terms): 0 every one, 1 a bond in an xy lattice plane (or along x or y), 2 xz (or along z), 3 yz. The pair
# kernels sum a bond's dot products with A and B over those only: the terms left out are exact zeros, and the rest
# keep their order, so the sums are the same. Constants, one loop each: a component index read from a table made
# each (row, run) a runtime alias check of its own, past LLVM's limit, and the loops stayed scalar.
PLANE_TERMS = ((0, 1, 2, 3, 4, 5), (0, 1, 5, 0, 0, 0), (0, 2, 4, 0, 0, 0), (1, 2, 3, 0, 0, 0))


@njit(cache=True, inline="always")
def _components(plane: int) -> tuple:
    """PLANE_TERMS[plane] as unsigned constants (``plane`` a literal in each caller's loop)."""
    if plane == 1:
        return np.uint64(0), np.uint64(1), np.uint64(5), np.uint64(0), np.uint64(0), np.uint64(0)
    if plane == 2:
        return np.uint64(0), np.uint64(2), np.uint64(4), np.uint64(0), np.uint64(0), np.uint64(0)
    if plane == 3:
        return np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(0), np.uint64(0), np.uint64(0)
    return np.uint64(0), np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4), np.uint64(5)


@njit(cache=True, inline="always")
def _pair_force_bond(
    plane: int,
    b: np.uint64,
    p0: int,
    i: np.uint64,
    n: np.uint64,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    fields: np.ndarray,
    scrit: np.ndarray | None,
    bits: np.ndarray,
    off: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,
    inv_len: np.ndarray,
    pq: np.ndarray,
    phi: np.ndarray,
    wd: np.ndarray,
    xd: np.ndarray,
    acc: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    gz: np.ndarray,
    go: np.ndarray,
) -> None:
    """One bond of _pair_force_run over the run's lanes, its dot products over the components of its ``plane``
    (PLANE_TERMS: a literal, one loop per plane)."""
    real = ux.dtype.type
    zero = real(0.0)
    one = real(1.0)
    tiny = real(1e-30)
    s = np.uint64(LANES)
    a1 = s
    a2 = np.uint64(2 * LANES)
    a3 = np.uint64(3 * LANES)
    au = np.uint64(4 * LANES)
    al = np.uint64(7 * LANES)
    ab = np.uint64(13 * LANES)
    at = np.uint64(19 * LANES)
    asc = np.uint64(20 * LANES)
    alive = np.uint64(21 * LANES)
    tx = np.uint64(22 * LANES)  # this bond's fx, fy, fz, over per lane: rows 22-25
    ty = np.uint64(23 * LANES)
    tz = np.uint64(24 * LANES)
    to = np.uint64(25 * LANES)
    lam = np.uint64(LAM)
    bm = np.uint64(BM)
    th = np.uint64(THETA)
    full = plane == 0
    c0, c1, c2, c3, c4, c5 = _components(plane)
    q = np.uint64(p0 + off[b])
    w = b >> 5
    mask = np.uint32(1) << np.uint32(b & 31)
    xb = xix[b]
    yb = xiy[b]
    zb = xiz[b]
    lb = length[b]
    ilb = inv_len[b]
    g0, g1, g2, g3, g4, g5 = pq[c0, b], pq[c1, b], pq[c2, b], pq[c3, b], pq[c4, b], pq[c5, b]
    h0, h1, h2, h3, h4, h5 = phi[c0, b], phi[c1, b], phi[c2, b], phi[c3, b], phi[c4, b], phi[c5, b]
    wb = wd[b]
    xdb = xd[b]
    x2 = xb + xb
    y2 = yb + yb
    z2 = zb + zb
    for k in range(n):
        intact = _if_bit(bits[w, i + k], mask, acc[alive + k])
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
        lg = (
            (acc[al + c0 * s + k] + fields[lam + c0, qk]) * g0
            + (acc[al + c1 * s + k] + fields[lam + c1, qk]) * g1
            + (acc[al + c2 * s + k] + fields[lam + c2, qk]) * g2
        )
        beta_i = acc[ab + c0 * s + k] * h0 + acc[ab + c1 * s + k] * h1 + acc[ab + c2 * s + k] * h2
        beta_j = fields[bm + c0, qk] * h0 + fields[bm + c1, qk] * h1 + fields[bm + c2, qk] * h2
        if full:
            lg = (
                lg
                + (acc[al + c3 * s + k] + fields[lam + c3, qk]) * g3
                + (acc[al + c4 * s + k] + fields[lam + c4, qk]) * g4
                + (acc[al + c5 * s + k] + fields[lam + c5, qk]) * g5
            )
            beta_i = beta_i + acc[ab + c3 * s + k] * h3 + acc[ab + c4 * s + k] * h4 + acc[ab + c5 * s + k] * h5
            beta_j = beta_j + fields[bm + c3, qk] * h3 + fields[bm + c4, qk] * h4 + fields[bm + c5, qk] * h5
        tb = lg + wb * ((beta_i + beta_j) * e - (beta_i * acc[at + k] + beta_j * fields[th, qk]) * xdb)
        fac = intact * tb * rl * inv
        fx = fac * yx
        fy = fac * yy
        fz = fac * yz
        acc[k] += fx
        acc[a1 + k] += fy
        acc[a2 + k] += fz
        acc[tx + k] = fx
        acc[ty + k] = fy
        acc[tz + k] = fz
        if scrit is not None:
            lim = min(acc[asc + k], scrit[qk])
            over = intact if e * ilb > lim else zero
            acc[a3 + k] += over
            acc[to + k] = over
    for k in range(n):
        gx[q + k] -= acc[tx + k]
        gy[q + k] -= acc[ty + k]
        gz[q + k] -= acc[tz + k]
    if scrit is not None:
        for k in range(n):
            go[q + k] += acc[to + k]


@njit(cache=True, fastmath=True, error_model="numpy")
def _pair_force_run(
    p0: int,
    i0: int,
    lanes: int,
    count: int,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    fields: np.ndarray,
    scrit: np.ndarray | None,
    bits: np.ndarray,
    off: np.ndarray,
    half: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,
    inv_len: np.ndarray,
    pq: np.ndarray,
    phi: np.ndarray,
    wd: np.ndarray,
    xd: np.ndarray,
    terms: np.ndarray,
    acc: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    gz: np.ndarray,
    go: np.ndarray,
) -> None:
    """_force_run over the forward half of the stencil: each bond's force is added to its own particle (acc) and
    subtracted from the far end's cell (gx, gy, gz), its over-limit count added to both (go). The run's own sums
    go to its cells at the end. Lanes past the run's end (``lanes`` > ``count``) carry no bond: their cells and
    bond words belong to nobody in this run, and a scatter would write their garbage into real cells. A bond in a
    lattice plane sums three of the six terms of its dot products (PLANE_TERMS).

    The bond loop writes only the scratch vector (the bond's forces to rows of it) and the scatter runs as loops of
    its own: a loop writing five arrays needs a runtime alias check per (written, read) pair, more than LLVM's
    limit (8), and stays scalar."""
    real = ux.dtype.type
    zero = real(0.0)
    one = real(1.0)
    n = np.uint64(lanes)
    p = np.uint64(p0)
    i = np.uint64(i0)
    s = np.uint64(LANES)
    a1 = s
    a2 = np.uint64(2 * LANES)
    a3 = np.uint64(3 * LANES)
    au = np.uint64(4 * LANES)
    al = np.uint64(7 * LANES)
    ab = np.uint64(13 * LANES)
    at = np.uint64(19 * LANES)
    asc = np.uint64(20 * LANES)
    alive = np.uint64(21 * LANES)
    live = np.uint64(count)
    for k in range(n):
        acc[k] = zero
        acc[a1 + k] = zero
        acc[a2 + k] = zero
        acc[a3 + k] = zero
        acc[au + k] = ux[p + k]
        acc[au + s + k] = uy[p + k]
        acc[au + 2 * s + k] = uz[p + k]
        for c in range(6):
            acc[al + c * s + k] = fields[LAM + c, p + k]
            acc[ab + c * s + k] = fields[BM + c, p + k]
        acc[at + k] = fields[THETA, p + k]
        if scrit is not None:
            acc[asc + k] = scrit[p + k]
        acc[alive + k] = one if k < live else zero
    for t in range(half.shape[0]):
        b = np.uint64(half[t])
        plane = terms[b]
        if plane == 0:
            _pair_force_bond(
                0, b, p0, i, n, ux, uy, uz, fields, scrit, bits, off, xix, xiy, xiz, length, inv_len, pq, phi,
                wd, xd, acc, gx, gy, gz, go,
            )  # fmt: skip
        elif plane == 1:
            _pair_force_bond(
                1, b, p0, i, n, ux, uy, uz, fields, scrit, bits, off, xix, xiy, xiz, length, inv_len, pq, phi,
                wd, xd, acc, gx, gy, gz, go,
            )  # fmt: skip
        elif plane == 2:
            _pair_force_bond(
                2, b, p0, i, n, ux, uy, uz, fields, scrit, bits, off, xix, xiy, xiz, length, inv_len, pq, phi,
                wd, xd, acc, gx, gy, gz, go,
            )  # fmt: skip
        else:
            _pair_force_bond(
                3, b, p0, i, n, ux, uy, uz, fields, scrit, bits, off, xix, xiy, xiz, length, inv_len, pq, phi,
                wd, xd, acc, gx, gy, gz, go,
            )  # fmt: skip
    for k in range(live):
        gx[p + k] += acc[k]
        gy[p + k] += acc[a1 + k]
        gz[p + k] += acc[a2 + k]
        if scrit is not None:
            go[p + k] += acc[a3 + k]


@njit(cache=True, parallel=True)
def lps_pair_forces(
    runs: np.ndarray,  # (r, 4) int64 runs of the frame
    blocks: np.ndarray,  # (m, 4) int64 blocks of pmb_kernels.PairPlan: first run, last slab's first, end, side
    groups: np.ndarray,  # (g + 1,) int64 bounds of the groups of blocks run one per parallel iteration
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    fields: np.ndarray,
    scrit: np.ndarray | None,
    bits: np.ndarray,
    off: np.ndarray,
    half: np.ndarray,  # (h,) int64 the forward stencil entries in visiting order (PairPlan.half)
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,
    inv_len: np.ndarray,
    pq: np.ndarray,
    phi: np.ndarray,
    wd: np.ndarray,
    xd: np.ndarray,
    terms: np.ndarray,  # (nb,) int64 each bond's plane (PLANE_TERMS): the tensor components it sums
    grid: np.ndarray,  # (3, 4, ncells) per-cell sums fx, fy, fz (without V), over-limit count; zeroed before
) -> None:
    """Pass 2 over each bond once, groups of blocks in parallel (lps_forces' arithmetic per bond)."""
    for j in prange(groups.shape[0] - 1):
        acc = np.empty(SCRATCH_PAIR * LANES, dtype=ux.dtype)
        for c in range(groups[j], groups[j + 1]):
            for r in range(blocks[c, 0], blocks[c, 2]):
                g = grid[0] if r < blocks[c, 1] else grid[blocks[c, 3]]
                _pair_force_run(
                    runs[r, 0], runs[r, 1], runs[r, 3], runs[r, 2], ux, uy, uz, fields, scrit, bits, off, half, xix,
                    xiy, xiz, length, inv_len, pq, phi, wd, xd, terms, acc, g[0], g[1], g[2], g[3],
                )  # fmt: skip


@njit(cache=True, parallel=True)
def lps_pair_finish(
    grid: np.ndarray,  # (3, 4, ncells) after lps_pair_forces; left zero at the particles' cells
    scrit: np.ndarray | None,
    particle: np.ndarray,  # (n,) int32 lattice id of each frame particle
    cells: np.ndarray,  # (n,) int64 frame cell of each frame particle (ascending: the grid read in order)
    state_bits: np.ndarray,
    off: np.ndarray,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,
    inv_len: np.ndarray,
    volume: float,
    force: np.ndarray,
    newly_broken: np.ndarray,
) -> None:
    """Forces (x V) by lattice particle id; bonds over their limit break (both ends flagged them). Each cell's
    sums are zeroed once read: the next pass needs no memset (empty cells only ever receive zeros)."""
    vol = ux.dtype.type(volume)
    zero = ux.dtype.type(0.0)
    for f in prange(particle.shape[0]):
        i = particle[f]
        p = cells[f]
        sx = grid[0, 0, p] + grid[1, 0, p] + grid[2, 0, p]
        sy = grid[0, 1, p] + grid[1, 1, p] + grid[2, 1, p]
        sz = grid[0, 2, p] + grid[1, 2, p] + grid[2, 2, p]
        so = grid[0, 3, p] + grid[1, 3, p] + grid[2, 3, p]
        for a in range(3):
            for r in range(4):
                grid[a, r, p] = zero
        force[i, 0] = vol * sx
        force[i, 1] = vol * sy
        force[i, 2] = vol * sz
        broken = 0
        if scrit is not None and so > 0.0:
            broken = _break_over_limit(i, p, state_bits, off, ux, uy, uz, xix, xiy, xiz, length, inv_len, scrit)
        newly_broken[i] = broken


# ---- pass 1 over each bond once --------------------------------------------------------------------------------

SCRATCH_DIL_PAIR = 20  # as SCRATCH_DIL, the run's live lanes, one bond's two sums for its far end


@njit(cache=True, inline="always")
def _pair_dilatation_bond(
    plane: int,
    b: np.uint64,
    p0: int,
    i: np.uint64,
    n: np.uint64,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    amat: np.ndarray,
    fields: np.ndarray,
    bits: np.ndarray,
    off: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,
    pq: np.ndarray,
    phi: np.ndarray,
    wdx: np.ndarray,
    acc: np.ndarray,
    gt: np.ndarray,
    gp: np.ndarray,
) -> None:
    """One bond of _pair_dilatation_run over the run's lanes, its dot products with A and B over the components
    of its ``plane`` (PLANE_TERMS: a literal, one loop per plane)."""
    s = np.uint64(LANES)
    a1 = s
    au = np.uint64(2 * LANES)
    aa = np.uint64(5 * LANES)
    ab = np.uint64(11 * LANES)
    alive = np.uint64(17 * LANES)
    tt = np.uint64(18 * LANES)
    tp = np.uint64(19 * LANES)
    bm = np.uint64(BM)
    full = plane == 0
    c0, c1, c2, c3, c4, c5 = _components(plane)
    q = np.uint64(p0 + off[b])
    w = b >> 5
    mask = np.uint32(1) << np.uint32(b & 31)
    xb = xix[b]
    yb = xiy[b]
    zb = xiz[b]
    x2 = xb + xb
    y2 = yb + yb
    z2 = zb + zb
    lb = length[b]
    g0, g1, g2, g3, g4, g5 = pq[c0, b], pq[c1, b], pq[c2, b], pq[c3, b], pq[c4, b], pq[c5, b]
    h0, h1, h2, h3, h4, h5 = phi[c0, b], phi[c1, b], phi[c2, b], phi[c3, b], phi[c4, b], phi[c5, b]
    wb = wdx[b]
    for k in range(n):
        intact = _if_bit(bits[w, i + k], mask, acc[alive + k])
        qk = q + k
        ex = ux[qk] - acc[au + k]
        ey = uy[qk] - acc[au + s + k]
        ez = uz[qk] - acc[au + 2 * s + k]
        yx = xb + ex
        yy = yb + ey
        yz = zb + ez
        rl = np.sqrt(yx * yx + yy * yy + yz * yz) + lb
        e = intact * (ex * (x2 + ex) + ey * (y2 + ey) + ez * (z2 + ez)) / rl
        g_i = acc[aa + c0 * s + k] * g0 + acc[aa + c1 * s + k] * g1 + acc[aa + c2 * s + k] * g2
        beta_i = acc[ab + c0 * s + k] * h0 + acc[ab + c1 * s + k] * h1 + acc[ab + c2 * s + k] * h2
        g_j = amat[c0, qk] * g0 + amat[c1, qk] * g1 + amat[c2, qk] * g2
        beta_j = fields[bm + c0, qk] * h0 + fields[bm + c1, qk] * h1 + fields[bm + c2, qk] * h2
        if full:
            g_i = g_i + acc[aa + c3 * s + k] * g3 + acc[aa + c4 * s + k] * g4 + acc[aa + c5 * s + k] * g5
            beta_i = beta_i + acc[ab + c3 * s + k] * h3 + acc[ab + c4 * s + k] * h4 + acc[ab + c5 * s + k] * h5
            g_j = g_j + amat[c3, qk] * g3 + amat[c4, qk] * g4 + amat[c5, qk] * g5
            beta_j = beta_j + fields[bm + c3, qk] * h3 + fields[bm + c4, qk] * h4 + fields[bm + c5, qk] * h5
        acc[k] += g_i * e
        acc[a1 + k] += beta_i * wb * e
        acc[tt + k] = g_j * e
        acc[tp + k] = beta_j * wb * e
    for k in range(n):
        gt[q + k] += acc[tt + k]
        gp[q + k] += acc[tp + k]


@njit(cache=True, fastmath=True, error_model="numpy")
def _pair_dilatation_run(
    p0: int,
    i0: int,
    lanes: int,
    count: int,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    amat: np.ndarray,
    fields: np.ndarray,
    bits: np.ndarray,
    off: np.ndarray,
    half: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,
    pq: np.ndarray,
    phi: np.ndarray,
    wdx: np.ndarray,
    terms: np.ndarray,
    acc: np.ndarray,
    gt: np.ndarray,
    gp: np.ndarray,
) -> None:
    """_dilatation_run over the forward half of the stencil: a bond's extension is computed once and each end
    adds its own g e and beta wd |xi| e (the far end's A and B read from the tables, pq and phi being even in the
    bond direction); the far end's sums scattered into gt, gp, the run's own added to its cells at the end. As in
    _pair_force_run, lanes past the run's end carry no bond and the scatter has loops of its own. A bond in a lattice
    plane sums three of the six terms of its dot products (PLANE_TERMS)."""
    real = ux.dtype.type
    zero = real(0.0)
    one = real(1.0)
    n = np.uint64(lanes)
    p = np.uint64(p0)
    i = np.uint64(i0)
    a1 = np.uint64(LANES)
    au = np.uint64(2 * LANES)
    aa = np.uint64(5 * LANES)
    ab = np.uint64(11 * LANES)
    alive = np.uint64(17 * LANES)
    s = np.uint64(LANES)
    live = np.uint64(count)
    for k in range(n):
        acc[k] = zero
        acc[a1 + k] = zero
        acc[au + k] = ux[p + k]
        acc[au + s + k] = uy[p + k]
        acc[au + 2 * s + k] = uz[p + k]
        for c in range(6):
            acc[aa + c * s + k] = amat[c, p + k]
            acc[ab + c * s + k] = fields[BM + c, p + k]
        acc[alive + k] = one if k < live else zero
    for t in range(half.shape[0]):
        b = np.uint64(half[t])
        plane = terms[b]
        if plane == 0:
            _pair_dilatation_bond(
                0, b, p0, i, n, ux, uy, uz, amat, fields, bits, off, xix, xiy, xiz, length, pq, phi, wdx,
                acc, gt, gp,
            )  # fmt: skip
        elif plane == 1:
            _pair_dilatation_bond(
                1, b, p0, i, n, ux, uy, uz, amat, fields, bits, off, xix, xiy, xiz, length, pq, phi, wdx,
                acc, gt, gp,
            )  # fmt: skip
        elif plane == 2:
            _pair_dilatation_bond(
                2, b, p0, i, n, ux, uy, uz, amat, fields, bits, off, xix, xiy, xiz, length, pq, phi, wdx,
                acc, gt, gp,
            )  # fmt: skip
        else:
            _pair_dilatation_bond(
                3, b, p0, i, n, ux, uy, uz, amat, fields, bits, off, xix, xiy, xiz, length, pq, phi, wdx,
                acc, gt, gp,
            )  # fmt: skip
    for k in range(live):
        gt[p + k] += acc[k]
        gp[p + k] += acc[a1 + k]


@njit(cache=True, parallel=True)
def lps_pair_dilatation(
    runs: np.ndarray,
    blocks: np.ndarray,  # (m, 4) int64 blocks of pmb_kernels.PairPlan
    groups: np.ndarray,  # (g + 1,) int64 bounds of the groups of blocks run one per parallel iteration
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    amat: np.ndarray,
    fields: np.ndarray,
    bits: np.ndarray,
    off: np.ndarray,
    half: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,
    pq: np.ndarray,
    phi: np.ndarray,
    wdx: np.ndarray,
    terms: np.ndarray,  # (nb,) int64 each bond's plane (PLANE_TERMS): the tensor components it sums
    grid: np.ndarray,  # (3, 4, ncells): rows 0, 1 the per-cell sums of g e and beta wd |xi| e; zeroed before
) -> None:
    """Pass 1 over each bond once, groups of blocks in parallel (PairPlan.scheduled)."""
    for j in prange(groups.shape[0] - 1):
        acc = np.empty(SCRATCH_DIL_PAIR * LANES, dtype=ux.dtype)
        for c in range(groups[j], groups[j + 1]):
            for r in range(blocks[c, 0], blocks[c, 2]):
                g = grid[0] if r < blocks[c, 1] else grid[blocks[c, 3]]
                _pair_dilatation_run(
                    runs[r, 0], runs[r, 1], runs[r, 3], runs[r, 2], ux, uy, uz, amat, fields, bits, off, half, xix,
                    xiy, xiz, length, pq, phi, wdx, terms, acc, g[0], g[1],
                )  # fmt: skip


@njit(cache=True, parallel=True)
def lps_pair_dilatation_finish(
    grid: np.ndarray,  # (3, 4, ncells) after lps_pair_dilatation; rows 0, 1 left zero at the particles' cells
    amat: np.ndarray,
    fields: np.ndarray,
    mb: np.ndarray,
    cells: np.ndarray,  # (n,) int64 frame cell of each frame particle
    volume: float,
    bulk: float,
    dim: int,
) -> None:
    """theta_i and lam_i A_i from the sums (zeroed once read). The intact-bond counts (and A, B, mb) follow the
    bits before pass 1 (physics/laws/lps.py: LPS.refresh where the bits changed), not here: a popcount of every
    particle's bond words in each evaluation."""
    real = fields.dtype.type
    inv_d = real(1.0 / dim)
    kb = real(bulk)
    vol = real(volume)
    zero = real(0.0)
    for f in prange(cells.shape[0]):
        p = cells[f]
        th = vol * (grid[0, 0, p] + grid[1, 0, p] + grid[2, 0, p])
        pm = vol * (grid[0, 1, p] + grid[1, 1, p] + grid[2, 1, p])
        for a in range(3):
            grid[a, 0, p] = zero
            grid[a, 1, p] = zero
        lam = kb * th - inv_d * (pm - th * mb[p] * inv_d)
        fields[THETA, p] = th
        for j in range(6):
            fields[LAM + j, p] = lam * amat[j, p]


# ---- outputs ----------------------------------------------------------------------------------------------------


@njit(cache=True, parallel=True)
def lps_stress(
    cells: np.ndarray,  # (n,) int64 each particle's cell of the lattice's padded grid
    cell_to_particle: np.ndarray,  # (ncells,) particle id of each padded cell, -1 empty
    flat_offset: np.ndarray,  # (nb,) int64 bond b's cell offset
    bits: np.ndarray,  # (W, n) uint32 intact-bond words, lattice order
    u: np.ndarray,  # (n, 3) float64 displacements
    xi: np.ndarray,  # (nb, 3) float64 reference bond vectors
    lengths: np.ndarray,
    wd: np.ndarray,
    pq: np.ndarray,  # (6, nb) float64
    phi: np.ndarray,  # (6, nb) float64
    amat: np.ndarray,  # (6, ncells of the tables) A_i
    bmat: np.ndarray,  # (6, ncells of the tables) B_i
    mb: np.ndarray,
    grid_cells: np.ndarray,  # (n,) each particle's cell of the tables
    volume: float,
    bulk: float,
    dim: int,
    out: np.ndarray,  # (n, 3, 3) float64 stress, written
    theta_out: np.ndarray,  # (n,) float64 dilatation, written
) -> None:
    """Cauchy stress of each particle in float64 (physics/laws/lps.py LPS.stress: the module docstring's theta,
    lam and t from the displacements, sigma_i = sum_b V t_ib (y_b / |y_b|) (x) xi_b over intact bonds); each
    particle its own sums, in bond order."""
    nb = flat_offset.shape[0]
    inv_d = 1.0 / dim
    for i in prange(cells.shape[0]):
        c = cells[i]
        gc = grid_cells[i]
        a0, a1, a2 = np.float64(amat[0, gc]), np.float64(amat[1, gc]), np.float64(amat[2, gc])
        a3, a4, a5 = np.float64(amat[3, gc]), np.float64(amat[4, gc]), np.float64(amat[5, gc])
        b0, b1, b2 = np.float64(bmat[0, gc]), np.float64(bmat[1, gc]), np.float64(bmat[2, gc])
        b3, b4, b5 = np.float64(bmat[3, gc]), np.float64(bmat[4, gc]), np.float64(bmat[5, gc])
        theta = 0.0
        moment = 0.0
        for b in range(nb):
            j = cell_to_particle[c + flat_offset[b]]
            if j < 0 or (bits[b >> 5, i] >> np.uint32(b & 31)) & np.uint32(1) == 0:
                continue
            yx = xi[b, 0] + (u[j, 0] - u[i, 0])
            yy = xi[b, 1] + (u[j, 1] - u[i, 1])
            yz = xi[b, 2] + (u[j, 2] - u[i, 2])
            e = np.sqrt(yx * yx + yy * yy + yz * yz) - lengths[b]
            g = a0 * pq[0, b] + a1 * pq[1, b] + a2 * pq[2, b] + a3 * pq[3, b] + a4 * pq[4, b] + a5 * pq[5, b]
            beta = b0 * phi[0, b] + b1 * phi[1, b] + b2 * phi[2, b] + b3 * phi[3, b] + b4 * phi[4, b] + b5 * phi[5, b]
            theta += volume * g * e
            moment += volume * beta * wd[b] * lengths[b] * e
        lam = bulk * theta - (moment - theta * np.float64(mb[gc]) * inv_d) * inv_d
        theta_out[i] = theta
        s = np.zeros((3, 3))
        for b in range(nb):
            j = cell_to_particle[c + flat_offset[b]]
            if j < 0 or (bits[b >> 5, i] >> np.uint32(b & 31)) & np.uint32(1) == 0:
                continue
            yx = xi[b, 0] + (u[j, 0] - u[i, 0])
            yy = xi[b, 1] + (u[j, 1] - u[i, 1])
            yz = xi[b, 2] + (u[j, 2] - u[i, 2])
            r = np.sqrt(yx * yx + yy * yy + yz * yz)
            e = r - lengths[b]
            g = a0 * pq[0, b] + a1 * pq[1, b] + a2 * pq[2, b] + a3 * pq[3, b] + a4 * pq[4, b] + a5 * pq[5, b]
            beta = b0 * phi[0, b] + b1 * phi[1, b] + b2 * phi[2, b] + b3 * phi[3, b] + b4 * phi[4, b] + b5 * phi[5, b]
            t = lam * g + beta * wd[b] * (e - theta * lengths[b] * inv_d)
            k = volume * t / max(r, 1e-300)
            for p in range(3):
                s[0, p] += k * yx * xi[b, p]
                s[1, p] += k * yy * xi[b, p]
                s[2, p] += k * yz * xi[b, p]
        for a in range(3):
            for p in range(3):
                out[i, a, p] = s[a, p]
