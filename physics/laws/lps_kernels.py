"""numba kernels of the linear peridynamic solid (LPS, state-based).

Same storage as the PMB kernels (physics/laws/pmb_kernels.py): float32 displacements on the padded flat grid, bond
``b`` of the particle in cell ``p`` joins cell ``p + off[b]``, uint32 intact-bond words ``bits[w, i]``. Every
particle gathers only its own bonds (no scatter), so results do not depend on the thread count.

Per particle i with bond extensions e_b = |y_b| - |xi_b| (intact bonds only, V_j the neighbour's volume):

    theta_i = sum_b V_j g_ib e_b,          g_ib = xi_b . A_i . xi_b / |xi_b|     (dilatation)
    P_i     = sum_b V_j beta_ib wd_b |xi_b| e_b,   beta_ib = B_i . phi_b (phi: even products of n_b)
    lam_i   = K theta_i - (P_i - theta_i mb_i / d) / d,   mb_i = sum_b V_j beta_ib wd_b |xi_b|^2
    t_ib    = lam_i g_ib + beta_ib wd_b (e_b - theta_i |xi_b| / d)               (scalar force state)
    f_i     = sum_b V_j (t_ib + t_jb) y_b / |y_b|

t is the exact derivative of W_i = K theta_i^2 / 2 + 1/2 sum_b beta_ib wd_b (e_b - theta_i |xi_b| / d)^2 V_j, so
the forces conserve energy. A_i = (d / m_i) I and B_i = alpha_i I is plain LPS; the surface correction solves
them per particle (see physics/laws/lps.py).

What pass 2 needs of a bond's far end lives in one 64-byte record per cell, ``rec[cell, 16]`` (float32):
lam A (0-5, written by pass 1), B (6-11), theta (12, pass 1), volume (13, 0 in empty cells), critical stretch
(14), unused (15). One cache line per neighbour instead of fourteen separate arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

LAM, BM, THETA, VOL, SCRIT = 0, 6, 12, 13, 14


@njit(cache=True, parallel=True, fastmath=True)
def lps_dilatation(
    cells: np.ndarray,  # (n,) padded-grid cell of each particle
    ux: np.ndarray,  # (ncells,) float32 displacements on the padded grid
    uy: np.ndarray,
    uz: np.ndarray,
    rec: np.ndarray,  # (ncells, 16) float32 per-cell record (see module docstring); theta and lam A written
    amat: np.ndarray,  # (ncells, 6) float32 Voigt components of A per particle
    mb: np.ndarray,  # (ncells,) float32 sum_b beta_ib wd_b |xi_b|^2 V_j over intact bonds
    bits: np.ndarray,  # (W, n) uint32 intact-bond mask
    off: np.ndarray,  # (nb,) int64 flat offsets
    xix: np.ndarray,  # (nb,) float32 reference bond vector
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,  # (nb,) float32 |xi|
    pq: np.ndarray,  # (6, nb) float32 [xx, yy, zz, 2yz, 2xz, 2xy] / |xi| of each bond vector
    phi: np.ndarray,  # (6, nb) float32 [nx^2, ny^2, nz^2, ny^2 nz^2, nx^2 nz^2, nx^2 ny^2]
    wdx: np.ndarray,  # (nb,) float32 deviatoric weight times |xi|
    bulk: float,  # K (3D) or the 2D bulk modulus
    dim: int,  # 2 or 3
) -> None:
    nb = off.shape[0]
    words = bits.shape[0]
    zero = np.float32(0.0)
    inv_d = np.float32(1.0 / dim)
    kb = np.float32(bulk)
    for i in prange(cells.shape[0]):
        p = cells[i]
        uxi = ux[p]
        uyi = uy[p]
        uzi = uz[p]
        a0, a1, a2, a3, a4, a5 = amat[p, 0], amat[p, 1], amat[p, 2], amat[p, 3], amat[p, 4], amat[p, 5]
        b0, b1, b2 = rec[p, BM], rec[p, BM + 1], rec[p, BM + 2]
        b3, b4, b5 = rec[p, BM + 3], rec[p, BM + 4], rec[p, BM + 5]
        th = zero
        pm = zero
        for w in range(words):
            word = bits[w, i]
            base = w * 32
            last = min(nb, base + 32)
            for b in range(base, last):
                q = p + off[b]
                vj = rec[q, VOL] * np.float32(np.int32((word >> np.uint32(b - base)) & np.uint32(1)))
                yx = xix[b] + (ux[q] - uxi)
                yy = xiy[b] + (uy[q] - uyi)
                yz = xiz[b] + (uz[q] - uzi)
                e = np.sqrt(yx * yx + yy * yy + yz * yz) - length[b]
                g = (
                    a0 * pq[0, b]
                    + a1 * pq[1, b]
                    + a2 * pq[2, b]
                    + a3 * pq[3, b]
                    + a4 * pq[4, b]
                    + a5 * pq[5, b]
                )
                beta = b0 * phi[0, b] + b1 * phi[1, b] + b2 * phi[2, b] + b3 * phi[3, b] + b4 * phi[4, b]
                beta += b5 * phi[5, b]
                th += vj * g * e
                pm += vj * beta * wdx[b] * e
        lam = kb * th - inv_d * (pm - th * mb[p] * inv_d)
        rec[p, THETA] = th
        rec[p, LAM] = lam * a0
        rec[p, LAM + 1] = lam * a1
        rec[p, LAM + 2] = lam * a2
        rec[p, LAM + 3] = lam * a3
        rec[p, LAM + 4] = lam * a4
        rec[p, LAM + 5] = lam * a5


@njit(cache=True, inline="always")
def _break_over_limit(
    i: int,
    p: int,
    bits: np.ndarray,
    off: np.ndarray,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,
    inv_len: np.ndarray,
    scrit: np.ndarray,
) -> int:
    """Clear particle i's intact bonds whose stretch exceeds min(s_i, s_j), with the force loop's arithmetic."""
    nb = off.shape[0]
    si = scrit[p]
    broken = 0
    for w in range(bits.shape[0]):
        word = bits[w, i]
        base = w * 32
        for b in range(base, min(nb, base + 32)):
            bit = np.uint32(1) << np.uint32(b - base)
            if word & bit:
                q = p + off[b]
                yx = xix[b] + (ux[q] - ux[p])
                yy = xiy[b] + (uy[q] - uy[p])
                yz = xiz[b] + (uz[q] - uz[p])
                s = (np.sqrt(yx * yx + yy * yy + yz * yz) - length[b]) * inv_len[b]
                if s > min(si, scrit[q]):
                    word &= ~bit
                    broken += 1
        bits[w, i] = word
    return broken


@njit(cache=True, parallel=True, fastmath=True)
def lps_forces(
    cells: np.ndarray,  # (n,) padded-grid cell of each particle
    ux: np.ndarray,  # (ncells,) float32 displacements on the padded grid
    uy: np.ndarray,
    uz: np.ndarray,
    rec: np.ndarray,  # (ncells, 16) float32 per-cell record, after lps_dilatation
    scrit: np.ndarray,  # (ncells,) float32 critical stretch per particle (for the rare breaking pass)
    bits: np.ndarray,  # (W, n) uint32 intact-bond mask, updated in place (bonds past their limit break)
    off: np.ndarray,  # (nb,) int64 flat offsets
    xix: np.ndarray,  # (nb,) float32 reference bond vector
    xiy: np.ndarray,
    xiz: np.ndarray,
    length: np.ndarray,  # (nb,) float32 |xi|
    inv_len: np.ndarray,  # (nb,) float32 1 / |xi|
    pq: np.ndarray,  # (6, nb) float32 [xx, yy, zz, 2yz, 2xz, 2xy] / |xi|
    phi: np.ndarray,  # (6, nb) float32 [nx^2, ny^2, nz^2, ny^2 nz^2, nx^2 nz^2, nx^2 ny^2]
    wd: np.ndarray,  # (nb,) float32 deviatoric weight
    xd: np.ndarray,  # (nb,) float32 |xi| / d
    force: np.ndarray,  # (n, 3) float64 output force density
    newly_broken: np.ndarray,  # (n,) int32 output: bonds broken at this step per particle
) -> None:
    nb = off.shape[0]
    words = bits.shape[0]
    zero = np.float32(0.0)
    for i in prange(cells.shape[0]):
        p = cells[i]
        uxi = ux[p]
        uyi = uy[p]
        uzi = uz[p]
        li0, li1, li2 = rec[p, LAM], rec[p, LAM + 1], rec[p, LAM + 2]
        li3, li4, li5 = rec[p, LAM + 3], rec[p, LAM + 4], rec[p, LAM + 5]
        bi0, bi1, bi2 = rec[p, BM], rec[p, BM + 1], rec[p, BM + 2]
        bi3, bi4, bi5 = rec[p, BM + 3], rec[p, BM + 4], rec[p, BM + 5]
        thi = rec[p, THETA]
        si = rec[p, SCRIT]
        fx = zero
        fy = zero
        fz = zero
        over = zero
        for w in range(words):
            word = bits[w, i]
            base = w * 32
            last = min(nb, base + 32)
            # Branch-free so the loop vectorizes across bonds: the intact bit is a float factor.
            for b in range(base, last):
                q = p + off[b]
                intact = np.float32(np.int32((word >> np.uint32(b - base)) & np.uint32(1)))
                yx = xix[b] + (ux[q] - uxi)
                yy = xiy[b] + (uy[q] - uyi)
                yz = xiz[b] + (uz[q] - uzi)
                rr = np.sqrt(yx * yx + yy * yy + yz * yz)
                e = rr - length[b]
                # lam_i g_ib + lam_j g_jb in one product with the bond's quadratic form.
                lg = (
                    (li0 + rec[q, LAM]) * pq[0, b]
                    + (li1 + rec[q, LAM + 1]) * pq[1, b]
                    + (li2 + rec[q, LAM + 2]) * pq[2, b]
                )
                lg += (
                    (li3 + rec[q, LAM + 3]) * pq[3, b]
                    + (li4 + rec[q, LAM + 4]) * pq[4, b]
                    + (li5 + rec[q, LAM + 5]) * pq[5, b]
                )
                p0, p1, p2, p3, p4, p5 = phi[0, b], phi[1, b], phi[2, b], phi[3, b], phi[4, b], phi[5, b]
                beta_i = bi0 * p0 + bi1 * p1 + bi2 * p2 + bi3 * p3 + bi4 * p4 + bi5 * p5
                beta_j = (
                    rec[q, BM] * p0
                    + rec[q, BM + 1] * p1
                    + rec[q, BM + 2] * p2
                    + rec[q, BM + 3] * p3
                    + rec[q, BM + 4] * p4
                )
                beta_j += rec[q, BM + 5] * p5
                # Deviatoric parts of both ends: beta wd (e - theta |xi| / d).
                t = lg + wd[b] * ((beta_i + beta_j) * e - (beta_i * thi + beta_j * rec[q, THETA]) * xd[b])
                fac = intact * rec[q, VOL] * t / max(rr, np.float32(1e-30))
                fx += fac * yx
                fy += fac * yy
                fz += fac * yz
                sq = rec[q, SCRIT]
                lim = sq if sq < si else si
                over += intact if e * inv_len[b] > lim else zero
        force[i, 0] = fx
        force[i, 1] = fy
        force[i, 2] = fz
        broken = 0
        if over > zero:
            broken = _break_over_limit(i, p, bits, off, ux, uy, uz, xix, xiy, xiz, length, inv_len, scrit)
        newly_broken[i] = broken
