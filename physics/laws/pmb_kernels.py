"""numba kernels of the bond-based (PMB) force law.

Each particle gathers the forces of its own bonds (no scatter, so no races and a fixed summation order:
results are deterministic whatever the thread count). Neighbour ``b`` of the particle in padded-grid cell ``p``
is cell ``p + off[b]``; displacements live on the padded grid in float32 and the bond vector is
y = xi_b + (u_j - u_i): the reference offset is exact per stencil entry and the displacement difference is small,
so float32 keeps the stretch accurate. Bond state is a bitmask over the stencil, uint32 words stored word-major
(``bits[w, i]``), 16 bytes per particle at 122 bonds.

Per bond: s = (|y| - |xi_b|) / |xi_b|; force density on i: coef_b * g_ij * V_j * s * y / |y|, with
g_ij = (g_i + g_j) / 2 a per-particle surface correction and V_j = 0 in empty cells. Optional LAMMPS-style
short-range contact between *all* stencil pairs, bonded or not: 15 c V_j min(|y| - d_b, 0) / delta * y / |y| with
d_b = min(0.9 |xi_b|, 1.35 dx). A bond breaks (after contributing its force this step) when its stretch exceeds
min(s_i, s_j).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


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
    """Clear the bits of particle i's intact bonds whose stretch exceeds min(s_i, s_j); return how many.

    The rare second pass of both force kernels: the same float32 arithmetic as the force loop, so a bond is
    broken exactly when the force loop counted it over its limit."""
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
def pmb_forces(
    cells: np.ndarray,  # (n,) padded-grid cell of each particle
    ux: np.ndarray,  # (ncells,) float32 displacement on the padded grid (zero in empty cells)
    uy: np.ndarray,
    uz: np.ndarray,
    vol: np.ndarray,  # (ncells,) float32 particle volume, 0 in empty cells
    gcorr: np.ndarray,  # (ncells,) float32 surface-correction factor per particle
    scrit: np.ndarray,  # (ncells,) float32 critical stretch per particle (bond limit = min of the two)
    bits: np.ndarray,  # (W, n) uint32 intact-bond mask, updated in place
    off: np.ndarray,  # (nb,) int64 flat offsets
    xix: np.ndarray,  # (nb,) float32 reference bond vector
    xiy: np.ndarray,
    xiz: np.ndarray,
    inv_len: np.ndarray,  # (nb,) float32 1/|xi|
    length: np.ndarray,  # (nb,) float32 |xi|
    coef: np.ndarray,  # (nb,) float32 c times the horizon volume correction of each offset
    contact_d: np.ndarray,  # (nb,) float32 contact distance per offset
    contact_k: float,  # 15 c / delta; 0 disables contact
    force: np.ndarray,  # (n, 3) float64 output force density
    min_stretch: np.ndarray,  # (n,) float32 output: smallest stretch of a bond intact at the start of the step
    newly_broken: np.ndarray,  # (n,) int32 output: bonds broken at this step per particle
) -> None:
    nb = off.shape[0]
    words = bits.shape[0]
    kc = np.float32(contact_k)
    big = np.float32(3.0e38)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for i in prange(cells.shape[0]):
        p = cells[i]
        uxi = ux[p]
        uyi = uy[p]
        uzi = uz[p]
        gi = gcorr[p]
        si = scrit[p]
        fx = zero
        fy = zero
        fz = zero
        smin = big
        over = zero
        for w in range(words):
            word = bits[w, i]
            base = w * 32
            last = min(nb, base + 32)
            # Branch-free so the loop vectorizes across bonds (gathers): masks are floats.
            for b in range(base, last):
                q = p + off[b]
                vj = vol[q]
                intact = np.float32(np.int32((word >> np.uint32(b - base)) & np.uint32(1)))
                yx = xix[b] + (ux[q] - uxi)
                yy = xiy[b] + (uy[q] - uyi)
                yz = xiz[b] + (uz[q] - uzi)
                rr = np.sqrt(yx * yx + yy * yy + yz * yz)
                s = (rr - length[b]) * inv_len[b]
                fac = intact * coef[b] * np.float32(0.5) * (gi + gcorr[q]) * vj * s
                fac += kc * vj * min(rr - contact_d[b], zero)
                fac /= max(rr, np.float32(1e-30))
                fx += fac * yx
                fy += fac * yy
                fz += fac * yz
                smin = min(smin, s + (one - intact) * big)
                # Count (a sum vectorizes; a max reduction did not) intact bonds past their limit.
                sq = scrit[q]
                lim = sq if sq < si else si
                over += intact if s > lim else zero
        force[i, 0] = fx
        force[i, 1] = fy
        force[i, 2] = fz
        min_stretch[i] = smin
        broken = 0
        if over > zero:
            # Rare: some bond passed its limit this step; clear exactly those bits (same float32 arithmetic).
            broken = _break_over_limit(i, p, bits, off, ux, uy, uz, xix, xiy, xiz, length, inv_len, scrit)
        newly_broken[i] = broken


@njit(cache=True, parallel=True, fastmath=True)
def pmb_forces_directional(
    cells: np.ndarray,  # (n,) padded-grid cell of each particle
    ux: np.ndarray,  # (ncells,) float32 displacement on the padded grid (zero in empty cells)
    uy: np.ndarray,
    uz: np.ndarray,
    vol: np.ndarray,  # (ncells,) float32 particle volume, 0 in empty cells
    gx: np.ndarray,  # (ncells,) float32 surface-correction factor per particle under strain along x
    gy: np.ndarray,
    gz: np.ndarray,
    n2x: np.ndarray,  # (nb,) float32 squared unit-vector components of each stencil offset
    n2y: np.ndarray,
    n2z: np.ndarray,
    scrit: np.ndarray,  # (ncells,) float32 critical stretch per particle (bond limit = min of the two)
    bits: np.ndarray,  # (W, n) uint32 intact-bond mask, updated in place
    off: np.ndarray,  # (nb,) int64 flat offsets
    xix: np.ndarray,  # (nb,) float32 reference bond vector
    xiy: np.ndarray,
    xiz: np.ndarray,
    inv_len: np.ndarray,  # (nb,) float32 1/|xi|
    length: np.ndarray,  # (nb,) float32 |xi|
    coef: np.ndarray,  # (nb,) float32 c times the horizon volume correction of each offset
    contact_d: np.ndarray,  # (nb,) float32 contact distance per offset
    contact_k: float,  # 15 c / delta; 0 disables contact
    force: np.ndarray,  # (n, 3) float64 output force density
    min_stretch: np.ndarray,  # (n,) not written here: only the LAMMPS variant (other kernel) needs it
    newly_broken: np.ndarray,  # (n,) int32 output: bonds broken at this step per particle
) -> None:
    nb = off.shape[0]
    words = bits.shape[0]
    kc = np.float32(contact_k)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for i in prange(cells.shape[0]):
        p = cells[i]
        uxi = ux[p]
        uyi = uy[p]
        uzi = uz[p]
        gxi = gx[p]
        gyi = gy[p]
        gzi = gz[p]
        si = scrit[p]
        fx = zero
        fy = zero
        fz = zero
        over = zero
        for w in range(words):
            word = bits[w, i]
            base = w * 32
            last = min(nb, base + 32)
            # Branch-free so the loop vectorizes across bonds (gathers): masks are floats.
            for b in range(base, last):
                q = p + off[b]
                vj = vol[q]
                intact = np.float32(np.int32((word >> np.uint32(b - base)) & np.uint32(1)))
                yx = xix[b] + (ux[q] - uxi)
                yy = xiy[b] + (uy[q] - uyi)
                yz = xiz[b] + (uz[q] - uzi)
                rr = np.sqrt(yx * yx + yy * yy + yz * yz)
                s = (rr - length[b]) * inv_len[b]
                # Directional (ellipsoid) correction, Madenci & Oterkus: G = (sum_a n_a^2 / G_a^2)^(-1/2).
                ax = np.float32(2.0) / (gxi + gx[q])
                ay = np.float32(2.0) / (gyi + gy[q])
                az = np.float32(2.0) / (gzi + gz[q])
                gb = one / np.sqrt(n2x[b] * ax * ax + n2y[b] * ay * ay + n2z[b] * az * az)
                fac = intact * coef[b] * gb * vj * s
                fac += kc * vj * min(rr - contact_d[b], zero)
                fac /= max(rr, np.float32(1e-30))
                fx += fac * yx
                fy += fac * yy
                fz += fac * yz
                # Count (a sum vectorizes; a max reduction did not) intact bonds past their limit.
                sq = scrit[q]
                lim = sq if sq < si else si
                over += intact if s > lim else zero
        force[i, 0] = fx
        force[i, 1] = fy
        force[i, 2] = fz
        broken = 0
        if over > zero:
            # Rare: some bond passed its limit this step; clear exactly those bits (same float32 arithmetic).
            broken = _break_over_limit(i, p, bits, off, ux, uy, uz, xix, xiy, xiz, length, inv_len, scrit)
        newly_broken[i] = broken


@njit(cache=True, parallel=True, fastmath=True)
def roofline_forces(
    n: int,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    inv_len: np.ndarray,
    length: np.ndarray,
    coef: np.ndarray,
    wobble: np.ndarray,
    force: np.ndarray,
) -> None:
    """The same per-bond arithmetic with no neighbour loads: the ceiling the real kernel is measured against."""
    nb = xix.shape[0]
    for i in prange(n):
        d = wobble[i & 1023]
        fx = np.float32(0.0)
        fy = np.float32(0.0)
        fz = np.float32(0.0)
        for b in range(nb):
            yx = xix[b] + d
            yy = xiy[b] - d
            yz = xiz[b] + d
            rr = np.sqrt(yx * yx + yy * yy + yz * yz)
            s = (rr - length[b]) * inv_len[b]
            fac = coef[b] * s / rr
            fx += fac * yx
            fy += fac * yy
            fz += fac * yz
        force[i, 0] = fx
        force[i, 1] = fy
        force[i, 2] = fz
