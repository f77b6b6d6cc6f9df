"""numba kernels of the bond-based (PMB) force law.

Each particle gathers the forces of its own bonds (no scatter, so no races and a fixed summation order:
results are deterministic whatever the thread count). The surface-corrected kernel also has a pair version
(``PairPlan``, end of the file): each bond computed once, its force added to one end and subtracted from the
other, in fixed blocks that share no written cell (deterministic too). Neighbour ``b`` of the particle in padded-grid cell ``p``
is cell ``p + off[b]``; displacements live on the padded grid in float32 and the bond vector is
y = xi_b + (u_j - u_i): the reference offset is exact per stencil entry and the displacement difference is small,
so float32 keeps the stretch accurate. Bond state is a bitmask over the stencil, uint32 words stored word-major
(``bits[w, i]``), 16 bytes per particle at 122 bonds.

Loop order: over runs of consecutive occupied cells, then stencil entries, then the particles of the run. Runs
are those of the lattice's RunFrame (physics/lattice.py: the padded grid with the axis of the body's longest runs
fastest in memory; z, the lattice's own order, unless another axis gains), whose grid holds the per-cell tables
and a copy of the displacements and bond words; outputs and breaking go to lattice particle ids
(``particle``). Along a run cells and frame particle ids both step by one, so for a fixed stencil entry every
read is contiguous and the innermost loop vectorizes across 8 particles (AVX2 float32), with no gathers.

Per bond: s = (|y| - |xi_b|) / |xi_b|, evaluated as eta.(xi_b + y) / ((|y| + |xi_b|) |xi_b|) with eta = u_j - u_i
(the same number without the float32 cancellation of |y| - |xi_b| at small strains); force density on i:
coef_b * G_ij * V_j * s * y / |y|, G_ij the directional surface correction (1 without it) and V_j = 0 in empty
cells. Optional LAMMPS-style short-range contact between *all* stencil pairs, bonded or not:
15 c V_j min(|y| - d_b, 0) / delta * y / |y| with d_b = min(0.9 |xi_b|, 1.35 dx). A bond breaks (after
contributing its force this step) when its stretch exceeds min(s_i, s_j).

Cost per bond and particle, about 45 vector instructions per 8 lanes: run kernels compile with
error_model="numpy" (a division-by-zero check would block vectorization), test the bond bit in 32-bit lanes
(``_if_bit``), read V_j only for contact, read per-particle limits only when they differ (LAMMPS's alpha rule),
and track the minimum stretch only for that rule.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.extending import intrinsic

from physics.lattice import RUN_LENGTH


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
                ex = ux[q] - ux[p]
                ey = uy[q] - uy[p]
                ez = uz[q] - uz[p]
                yx = xix[b] + ex
                yy = xiy[b] + ey
                yz = xiz[b] + ez
                rr = np.sqrt(yx * yx + yy * yy + yz * yz)
                num = ex * (xix[b] + yx) + ey * (xiy[b] + yy) + ez * (xiz[b] + yz)
                s = num * inv_len[b] / (rr + length[b])
                if s > min(si, scrit[q]):
                    word &= ~bit
                    broken += 1
        bits[w, i] = word
    return broken


@intrinsic
def _if_bit(typingctx, word, mask, value):
    """``value`` where ``word & mask`` is nonzero, else 0, in 32-bit integer arithmetic.

    numba widens uint32 operands to 64 bits; the vectorized bit test then runs on 512-bit registers (zero-extend,
    64-bit test), which on AVX-512 machines also halves the throughput of every other vector instruction in the
    loop. Emitted directly as a 32-bit and/compare/select it becomes one vptestmd and one masked move."""
    sig = value(word, mask, value)

    def codegen(context, builder, signature, args):
        w, m, v = args
        i32 = ir.IntType(32)
        w = builder.trunc(w, i32) if w.type.width > 32 else w
        m = builder.trunc(m, i32) if m.type.width > 32 else m
        nz = builder.icmp_unsigned("!=", builder.and_(w, m), ir.Constant(i32, 0))
        return builder.select(nz, v, ir.Constant(v.type, 0.0))

    return sig, codegen


# Longest run a kernel processes at once (the lattice splits longer runs). The per-run accumulators are rows of
# one scratch vector at fixed multiples of LANES, so LLVM sees one written object at constant offsets: the vector
# loop then needs one runtime alias check per array it reads, instead of one per (written, read) pair.
# Written out, not RUN_LENGTH itself: numba's cache checks this file, not the module a global comes from, so a new
# run length must change this line (kernels cached with shorter scratch rows would write past them).
LANES = 160
assert LANES == RUN_LENGTH, "physics.lattice.RUN_LENGTH changed: set LANES to it (numba recompiles this file)"
SCRATCH = 12  # rows of the per-run scratch vector: 5 accumulators, 7 copies of the particle's own values


@njit(cache=True, fastmath=True, error_model="numpy")
def _plain_run(
    p0: int,
    i0: int,
    lanes: int,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    vol: np.ndarray,
    scrit: np.ndarray,
    slim: np.float32 | None,
    bits: np.ndarray,
    off: np.ndarray,
    order: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    inv_len: np.ndarray,
    length: np.ndarray,
    coef: np.ndarray,
    volume: np.float32,
    contact_d: np.ndarray | None,
    kc: np.float32,
    track_min: bool | None,
    acc: np.ndarray,
) -> None:
    """Force density of the particles of one run (cells p0.., particles i0..) into acc: fx, fy, fz, over, smin.

    Bond-outer, particle-inner: for a fixed stencil entry every array is read at a fixed offset from the run, so
    the inner loop is contiguous and vectorizes across particles (8 float32 lanes). Indices are unsigned: a signed
    index needs a wraparound select per element, which turns vector loads into scalar inserts. Each particle
    still sums its bonds in stencil order: deterministic whatever the thread count.

    Only intact bonds carry force and a bond exists only between particles, so the bond force needs no load of
    V_j: every particle has the same volume, folded into the per-bond coefficient. Contact (between all stencil
    pairs) reads ``vol`` (0 in empty cells). ``slim`` a number: every particle has that critical stretch (no
    load of ``scrit`` in the loop); None: per-particle limits min(s_i, s_j). ``contact_d`` None: no contact;
    ``track_min`` None: no minimum stretch. numba prunes those branches at compile time, so each combination is
    its own loop."""
    real = ux.dtype.type  # float32, or float64 on the float64 path: every constant in the grid's type
    zero = real(0.0)
    one = real(1.0)
    big = real(3.0e38)
    tiny = real(1e-30)
    a1 = np.uint64(LANES)
    a2 = np.uint64(2 * LANES)
    a3 = np.uint64(3 * LANES)
    a4 = np.uint64(4 * LANES)
    n = np.uint64(lanes)
    p = np.uint64(p0)
    i = np.uint64(i0)
    # The particle's own values, copied next to the accumulators: reads from the scratch vector need no runtime
    # alias check against the writes (LLVM sees the same object at fixed offsets).
    a5 = np.uint64(5 * LANES)
    a6 = np.uint64(6 * LANES)
    a7 = np.uint64(7 * LANES)
    a8 = np.uint64(8 * LANES)
    for k in range(n):
        acc[k] = zero
        acc[a1 + k] = zero
        acc[a2 + k] = zero
        acc[a3 + k] = zero
        if track_min is not None:
            acc[a4 + k] = big
        acc[a5 + k] = ux[p + k]
        acc[a6 + k] = uy[p + k]
        acc[a7 + k] = uz[p + k]
        if slim is None:
            acc[a8 + k] = scrit[p + k]
    for t in range(order.shape[0]):
        b = np.uint64(order[t])  # unsigned: no wraparound selects on the per-bond loads
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
        ilb = inv_len[b]
        cv = coef[b] * volume * ilb  # c V_j / |xi| of an intact bond
        slb = zero
        if slim is not None:
            slb = slim * lb  # the limit test below compares s |xi|
        for k in range(n):
            cvi = _if_bit(bits[w, i + k], mask, cv)  # 0 for broken bonds and missing neighbours
            ex = ux[q + k] - acc[a5 + k]
            ey = uy[q + k] - acc[a6 + k]
            ez = uz[q + k] - acc[a7 + k]
            yx = xb + ex
            yy = yb + ey
            yz = zb + ez
            rr = np.sqrt(yx * yx + yy * yy + yz * yz)
            # |y| - |xi| = eta.(xi + y) / (|y| + |xi|) (eta = ex, ey, ez): no cancellation at small strain.
            # One reciprocal serves the stretch and the unit vector: er = (|y| - |xi|) / |y|. The tiny term only
            # keeps coincident particles finite.
            rl = rr + lb
            inv = one / (rr * rl + tiny)
            er = (ex * (x2 + ex) + ey * (y2 + ey) + ez * (z2 + ez)) * inv
            fac = cvi * er
            if contact_d is not None:
                fac += kc * vol[q + k] * min(rr - contact_d[b], zero) * rl * inv
            acc[k] += fac * yx
            acc[a1 + k] += fac * yy
            acc[a2 + k] += fac * yz
            # Count intact bonds past their limit (a sum vectorizes; the rare clearing pass runs afterwards).
            ext = er * rr  # |y| - |xi|
            if slim is None:
                over = ext * ilb > min(acc[a8 + k], scrit[q + k])
            else:
                over = ext > slb
            acc[a3 + k] += cvi if over else zero
            if track_min is not None:
                acc[a4 + k] = min(acc[a4 + k], ext * ilb if cvi > zero else big)


@njit(cache=True, parallel=True)
def pmb_forces(
    runs: np.ndarray,  # (r, 4) int64 runs of the lattice: first cell, first particle, length, lanes
    chunks: np.ndarray,  # (k + 1,) boundaries of groups of runs, the parallel work units
    ux: np.ndarray,  # (ncells,) float32 displacement on the padded grid (zero in empty cells)
    uy: np.ndarray,
    uz: np.ndarray,
    vol: np.ndarray,  # (ncells,) float32 particle volume, 0 in empty cells
    scrit: np.ndarray,  # (ncells,) float32 critical stretch per particle (bond limit = min of the two)
    uniform_limit: float,  # < 0: per-particle limits; else every scrit equals this (no scrit loads per bond)
    bits: np.ndarray,  # (W, n) uint32 intact-bond mask in frame order (physics.lattice.RunFrame)
    particle: np.ndarray,  # (n,) int32 lattice particle id of each frame particle (outputs, state_bits)
    state_bits: np.ndarray,  # (W, n) uint32 the state's intact-bond mask (lattice order), updated in place
    off: np.ndarray,  # (nb,) int64 flat offsets
    order: np.ndarray,  # (nb,) int64 order in which a kernel visits the stencil (neighbour rows together)
    xix: np.ndarray,  # (nb,) float32 reference bond vector
    xiy: np.ndarray,
    xiz: np.ndarray,
    inv_len: np.ndarray,  # (nb,) float32 1/|xi|
    length: np.ndarray,  # (nb,) float32 |xi|
    coef: np.ndarray,  # (nb,) float32 c times the horizon volume correction of each offset
    volume: float,  # V, every particle's volume
    contact_d: np.ndarray | None,  # (nb,) float32 contact distance per offset; None: no contact
    contact_k: float,  # 15 c / delta
    force: np.ndarray,  # (n, 3) float64 output force density
    min_stretch: np.ndarray | None,  # (n,) float32 output: least stretch of the bonds intact at the start
    newly_broken: np.ndarray,  # (n,) int32 output: bonds broken at this step per particle
) -> None:
    """Bond-based forces without surface correction (LAMMPS variant, or surface_correction=False).

    ``min_stretch`` None: not computed (only LAMMPS's alpha rule needs it)."""
    kc = ux.dtype.type(contact_k)
    vp = ux.dtype.type(volume)
    for c in prange(chunks.shape[0] - 1):
        acc = np.empty(SCRATCH * LANES, dtype=ux.dtype)
        for r in range(chunks[c], chunks[c + 1]):
            p0, i0, count, lanes = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3]
            if uniform_limit >= 0.0:
                _plain_run(
                    p0, i0, lanes, ux, uy, uz, vol, scrit, ux.dtype.type(uniform_limit), bits, off, order, xix, xiy,
                    xiz, inv_len, length, coef, vp, contact_d, kc, None if min_stretch is None else True, acc,
                )  # fmt: skip
            else:
                _plain_run(
                    p0, i0, lanes, ux, uy, uz, vol, scrit, None, bits, off, order, xix, xiy, xiz, inv_len,
                    length, coef, vp, contact_d, kc, None if min_stretch is None else True, acc,
                )  # fmt: skip
            for k in range(count):
                i = particle[i0 + k]
                force[i, 0] = acc[k]
                force[i, 1] = acc[LANES + k]
                force[i, 2] = acc[2 * LANES + k]
                if min_stretch is not None:
                    min_stretch[i] = acc[4 * LANES + k]
                broken = 0
                if acc[3 * LANES + k] > 0.0:
                    # Rare: some bond passed its limit this step; clear exactly those bits (same arithmetic).
                    broken = _break_over_limit(
                        i, p0 + k, state_bits, off, ux, uy, uz, xix, xiy, xiz, length, inv_len, scrit
                    )
                newly_broken[i] = broken


@njit(cache=True, fastmath=True, error_model="numpy")
def _directional_run(
    p0: int,
    i0: int,
    lanes: int,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    vol: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    gz: np.ndarray,
    n2x: np.ndarray,
    n2y: np.ndarray,
    n2z: np.ndarray,
    scrit: np.ndarray,
    slim: np.float32 | None,
    bits: np.ndarray,
    off: np.ndarray,
    order: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    inv_len: np.ndarray,
    length: np.ndarray,
    coef: np.ndarray,
    volume: np.float32,
    contact_d: np.ndarray | None,
    kc: np.float32,
    acc: np.ndarray,
    wgrid: np.ndarray | None,
) -> None:
    """As _plain_run with the directional surface correction and no minimum stretch (acc: fx, fy, fz, over);
    ``wgrid`` (per cell, or None) scales each bond by the product of its ends' weights."""
    real = ux.dtype.type  # float32, or float64 on the float64 path
    zero = real(0.0)
    one = real(1.0)
    half = real(0.5)
    tiny = real(1e-30)
    a1 = np.uint64(LANES)
    a2 = np.uint64(2 * LANES)
    a3 = np.uint64(3 * LANES)
    n = np.uint64(lanes)
    p = np.uint64(p0)
    i = np.uint64(i0)
    a5 = np.uint64(5 * LANES)
    a6 = np.uint64(6 * LANES)
    a7 = np.uint64(7 * LANES)
    a8 = np.uint64(8 * LANES)
    a9 = np.uint64(9 * LANES)
    a10 = np.uint64(10 * LANES)
    a11 = np.uint64(11 * LANES)
    for k in range(n):
        acc[k] = zero
        acc[a1 + k] = zero
        acc[a2 + k] = zero
        acc[a3 + k] = zero
        acc[a5 + k] = ux[p + k]
        acc[a6 + k] = uy[p + k]
        acc[a7 + k] = uz[p + k]
        if slim is None:
            acc[a8 + k] = scrit[p + k]
        acc[a9 + k] = gx[p + k]
        acc[a10 + k] = gy[p + k]
        acc[a11 + k] = gz[p + k]
    for t in range(order.shape[0]):
        b = np.uint64(order[t])  # unsigned: no wraparound selects on the per-bond loads
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
        ilb = inv_len[b]
        cv = coef[b] * half * volume * ilb
        nx = n2x[b]
        ny = n2y[b]
        nz = n2z[b]
        slb = zero
        if slim is not None:
            slb = slim * lb
        for k in range(n):
            cvi = _if_bit(bits[w, i + k], mask, cv)  # 0 for broken bonds and missing neighbours
            if wgrid is not None:
                cvi *= wgrid[p + k] * wgrid[q + k]
            ex = ux[q + k] - acc[a5 + k]
            ey = uy[q + k] - acc[a6 + k]
            ez = uz[q + k] - acc[a7 + k]
            yx = xb + ex
            yy = yb + ey
            yz = zb + ez
            rr = np.sqrt(yx * yx + yy * yy + yz * yz)
            # |y| - |xi| = eta.(xi + y) / (|y| + |xi|): no cancellation at small strain.
            num = ex * (x2 + ex) + ey * (y2 + ey) + ez * (z2 + ez)
            rl = rr + lb
            # Directional (ellipsoid) correction, Madenci & Oterkus: G = (sum_a n_a^2 / Gbar_a^2)^(-1/2) with
            # Gbar_a = h_a / 2, h_a = g_a,i + g_a,j; over a common denominator, one sqrt and no extra division:
            # G = h_x h_y h_z / (2 sqrt(n_x^2 h_y^2 h_z^2 + n_y^2 h_x^2 h_z^2 + n_z^2 h_x^2 h_y^2)).
            hx = acc[a9 + k] + gx[q + k]
            hy = acc[a10 + k] + gy[q + k]
            hz = acc[a11 + k] + gz[q + k]
            hyz = hy * hz
            hxz = hx * hz
            hxy = hx * hy
            den = np.sqrt(nx * hyz * hyz + ny * hxz * hxz + nz * hxy * hxy)
            # One reciprocal for the extension, G and the unit vector: inv = 1 / (den |y| (|y| + |xi|)).
            dr = den * rr
            inv = one / (dr * rl + tiny)
            fac = cvi * hx * hyz * num
            if contact_d is not None:
                fac += kc * vol[q + k] * min(rr - contact_d[b], zero) * den * rl
            fac *= inv
            acc[k] += fac * yx
            acc[a1 + k] += fac * yy
            acc[a2 + k] += fac * yz
            ext = num * dr * inv  # |y| - |xi|
            if slim is None:
                over = ext * ilb > min(acc[a8 + k], scrit[q + k])
            else:
                over = ext > slb
            acc[a3 + k] += cvi if over else zero


@njit(cache=True, parallel=True)
def pmb_forces_directional(
    runs: np.ndarray,  # (r, 4) int64 runs of the lattice: first cell, first particle, length, lanes
    chunks: np.ndarray,  # (k + 1,) boundaries of groups of runs, the parallel work units
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
    uniform_limit: float,  # < 0: per-particle limits; else every scrit equals this (no scrit loads per bond)
    bits: np.ndarray,  # (W, n) uint32 intact-bond mask in frame order (physics.lattice.RunFrame)
    particle: np.ndarray,  # (n,) int32 lattice particle id of each frame particle (outputs, state_bits)
    state_bits: np.ndarray,  # (W, n) uint32 the state's intact-bond mask (lattice order), updated in place
    off: np.ndarray,  # (nb,) int64 flat offsets
    order: np.ndarray,  # (nb,) int64 order in which a kernel visits the stencil (neighbour rows together)
    xix: np.ndarray,  # (nb,) float32 reference bond vector
    xiy: np.ndarray,
    xiz: np.ndarray,
    inv_len: np.ndarray,  # (nb,) float32 1/|xi|
    length: np.ndarray,  # (nb,) float32 |xi|
    coef: np.ndarray,  # (nb,) float32 c times the horizon volume correction of each offset
    volume: float,  # V, every particle's volume
    contact_d: np.ndarray | None,  # (nb,) float32 contact distance per offset; None: no contact
    contact_k: float,  # 15 c / delta
    force: np.ndarray,  # (n, 3) float64 output force density
    newly_broken: np.ndarray,  # (n,) int32 output: bonds broken at this step per particle
    wgrid: np.ndarray | None = None,  # (ncells,) float32 weights: a bond x w_i w_j; None: all 1
) -> None:
    """Bond-based forces with the directional surface correction."""
    kc = ux.dtype.type(contact_k)
    vp = ux.dtype.type(volume)
    for c in prange(chunks.shape[0] - 1):
        acc = np.empty(SCRATCH * LANES, dtype=ux.dtype)
        for r in range(chunks[c], chunks[c + 1]):
            p0, i0, count, lanes = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3]
            if uniform_limit >= 0.0:
                _directional_run(
                    p0, i0, lanes, ux, uy, uz, vol, gx, gy, gz, n2x, n2y, n2z, scrit, ux.dtype.type(uniform_limit),
                    bits, off, order, xix, xiy, xiz, inv_len, length, coef, vp, contact_d, kc, acc, wgrid,
                )  # fmt: skip
            else:
                _directional_run(
                    p0, i0, lanes, ux, uy, uz, vol, gx, gy, gz, n2x, n2y, n2z, scrit, None, bits, off, order,
                    xix, xiy, xiz, inv_len, length, coef, vp, contact_d, kc, acc, wgrid,
                )  # fmt: skip
            for k in range(count):
                i = particle[i0 + k]
                force[i, 0] = acc[k]
                force[i, 1] = acc[LANES + k]
                force[i, 2] = acc[2 * LANES + k]
                broken = 0
                if acc[3 * LANES + k] > 0.0:
                    broken = _break_over_limit(
                        i, p0 + k, state_bits, off, ux, uy, uz, xix, xiy, xiz, length, inv_len, scrit
                    )
                newly_broken[i] = broken


@njit(cache=True)
def stretch_limits(
    cells: np.ndarray, min_stretch: np.ndarray, s00: float, alpha: float, scrit: np.ndarray
) -> None:
    """``cells``: each particle's cell on the frame grid. LAMMPS's rule for the next step: s0_i = s00 - alpha * (smallest stretch of i's intact bonds, this step)."""
    for i in range(cells.shape[0]):
        smin = min_stretch[i]
        scrit[cells[i]] = scrit.dtype.type(s00 - alpha * smin) if smin < 1.0e38 else scrit.dtype.type(3.0e38)


@njit(cache=True)
def to_frame(
    source: np.ndarray,  # (n,) int64 lattice cell of each frame particle
    target: np.ndarray,  # (n,) int64 frame cell of each frame particle (ascending)
    width: int,  # 32-bit words per value: 1 (float32 grids) or 2 (float64)
    ux: np.ndarray,  # (ncells * width,) uint32 view of the state's displacement grids (lattice layout)
    uy: np.ndarray,
    uz: np.ndarray,
    fx: np.ndarray,  # (ncells * width,) uint32 view of the frame's grids (their empty cells stay zero)
    fy: np.ndarray,
    fz: np.ndarray,
) -> None:
    """Copy a state's displacement grids into a physics.lattice.RunFrame's: exact copies of the bits, so one
    compiled kernel serves float32 and float64 grids.

    Serial: a few bytes a particle against the kernels' 122 bonds; as a parallel region of its own it cost more
    than the copy on a busy machine (0.65 ms a call at 7,008 particles, 2 threads, load 11: each region waits
    for both threads to be scheduled)."""
    for k in range(source.shape[0]):
        p = source[k] * width
        q = target[k] * width
        for h in range(width):
            fx[q + h] = ux[p + h]
            fy[q + h] = uy[p + h]
            fz[q + h] = uz[p + h]


@njit(cache=True)
def frame_bits(particle: np.ndarray, bits: np.ndarray, fbits: np.ndarray) -> None:
    """The state's bond words ``bits`` (W, n) (lattice order) in frame order: fbits[:, k] = bits[:, particle[k]]."""
    for w in range(bits.shape[0]):
        for k in range(particle.shape[0]):
            fbits[w, k] = bits[w, particle[k]]


# ---- each bond once: half stencil, the pair's force added to i and subtracted from j ------------------------


BLOCKS = 16  # parallel work units of the pair kernels: a fixed number, so results do not depend on the threads


class PairPlan:
    """How the pair kernels visit a RunFrame: each bond once, from the end whose cell comes first.

    ``half``: the stencil entries with a positive flat offset (in the kernels' visiting order), so bond (i, j) is
    computed by the particle of the lower cell and its force scattered into the other's cell of per-cell
    accumulators. Two runs processed at once must never write the same cell. The frame's slowest axis is cut into
    slabs ``width`` >= the stencil's reach along it (a slab's writes stay in it and the next one), and the slabs
    into up to BLOCKS blocks of about equal particle counts, processed in parallel, each slab after slab. Only a
    block's last slab writes into the next block: it writes into a side buffer of its own (one for even blocks,
    one for odd), and the finishing pass adds the three buffers. ``blocks``: (m, 4) int64 first run, first run of
    the last slab, end run, side buffer (1 or 2). Each cell receives its sums in the same order whatever the
    thread count (the blocks are fixed), so results are deterministic. A bond's state is read from the lower
    cell's particle: both ends' bits must agree (breaking clears both, as do pre-cracks cut across the lattice;
    a bond cut at one end only acts whole or not at all). One parallel region per pass, as the
    whole-stencil kernels (on the loaded 2-core machine every region waits for both threads to be scheduled)."""

    def __init__(self, lattice, frame, order: np.ndarray) -> None:
        perm = [c for c in range(3) if c != frame.axis] + [frame.axis]
        reach = int(np.abs(lattice.stencil[:, perm[0]]).max())
        self.width = width = max(reach, 1)
        self.half = np.ascontiguousarray(order[frame.flat_offset[order] > 0])
        plane = int(frame.shape[1]) * int(frame.shape[2])
        runs = frame.runs
        slab = runs[:, 0] // plane // width  # nondecreasing: runs ascend by cell
        first = np.flatnonzero(np.diff(slab, prepend=-1) != 0)
        end = np.append(first[1:], len(slab))
        count = runs[end - 1, 1] + runs[end - 1, 2] - runs[first, 1]  # particles per slab
        nblocks = min(BLOCKS, len(first))
        total = np.cumsum(count)
        cuts = np.searchsorted(total, total[-1] * np.arange(1, nblocks) / nblocks, side="left") + 1
        cuts = np.unique(np.concatenate([[0], np.minimum(cuts, len(first)), [len(first)]]))
        a, b = cuts[:-1], cuts[1:]
        self.blocks = np.column_stack([first[a], first[b - 1], end[b - 1], 1 + np.arange(len(a)) % 2])
        self.blocks = np.ascontiguousarray(self.blocks, dtype=np.int64)
        self.block_particles = total[b - 1] - np.where(a > 0, total[a - 1], 0)
        self.ncells = int(np.prod(frame.shape))
        self.cells = np.ascontiguousarray(frame.cells)  # frame cell of each frame particle, ascending

    def calls(self, split: int) -> list[np.ndarray]:
        """The blocks of each kernel call of one pass: all in one call, or (``split`` > 0) in calls of about
        ``split`` particles (an observed evaluation of a big body: physics.laws.base.chunk_groups)."""
        if split <= 0:
            return [self.blocks]
        ends = np.cumsum(self.block_particles)
        marks = np.searchsorted(ends, np.arange(split, ends[-1], split)) + 1
        cuts = np.unique(np.concatenate([[0], np.minimum(marks, len(ends)), [len(ends)]]))
        return [np.ascontiguousarray(self.blocks[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]

    def scheduled(self, split: int, threads: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """``calls(split)``, each call's blocks regrouped for ``threads`` threads: (its blocks reordered, (g + 1,)
        int64 bounds of g <= threads groups of them), the groups of about equal particle counts (each block, the
        largest first, to the least loaded group; LPS's pair kernels run a group per parallel iteration). Each
        cell of each buffer sums the runs of one block only, in the block's order, so the results do not depend
        on which thread runs a block or when. prange hands each thread an equal count of iterations: the
        38,400-particle cantilever's 7 blocks (7 slabs, the last two thirds full) went 4 / 3, the larger share 20 %
        over an even split; grouped 11 / 9 slabs' worth, 8 % over."""
        key = (split, threads)
        cache = self.__dict__.setdefault("_scheduled", {})
        if key not in cache:
            start = {int(r): k for k, r in enumerate(self.blocks[:, 0])}
            out = []
            for blocks in self.calls(split):
                size = self.block_particles[[start[int(r)] for r in blocks[:, 0]]]
                count = max(1, min(threads, len(blocks)))
                load = np.zeros(count)
                members: list[list[int]] = [[] for _ in range(count)]
                for k in np.argsort(-size, kind="stable"):
                    g = int(np.argmin(load))
                    members[g].append(int(k))
                    load[g] += size[k]
                rows = [sorted(m) for m in members]
                order = np.array([k for m in rows for k in m], dtype=np.int64)
                bounds = np.cumsum([0] + [len(m) for m in rows]).astype(np.int64)
                out.append((np.ascontiguousarray(blocks[order]), bounds))
            cache[key] = out
        return cache[key]

    def grid(self, law, dtype) -> np.ndarray:
        """The law's (3, 4, ncells) accumulators in ``dtype`` (main, side buffers of even and odd blocks), zero.
        The finishing passes zero what they read; an evaluation that did not reach ``done`` (an exception between
        its kernels) leaves them to be cleared here."""
        grids = law.__dict__.setdefault("_pair_grids", {})
        dirty = law.__dict__.setdefault("_pair_dirty", set())
        if dtype not in grids:
            grids[dtype] = np.zeros((3, 4, self.ncells), dtype=dtype)
        elif dtype in dirty:
            grids[dtype][:] = 0.0
        dirty.add(dtype)
        return grids[dtype]

    def done(self, law, dtype) -> None:
        """The evaluation's finishing pass left ``grid(law, dtype)`` zero."""
        law.__dict__["_pair_dirty"].discard(dtype)


SCRATCH_PAIR = 18  # fx, fy, fz, over, -, own u (3), own limit, own g (3), live lanes, own volume, bond's fx, fy, fz, over


@njit(cache=True, fastmath=True, error_model="numpy")
def _pair_directional_run(
    p0: int,
    i0: int,
    lanes: int,
    count: int,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    vol: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    gz: np.ndarray,
    n2x: np.ndarray,
    n2y: np.ndarray,
    n2z: np.ndarray,
    scrit: np.ndarray,
    slim: np.float32 | None,
    bits: np.ndarray,
    off: np.ndarray,
    half: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    inv_len: np.ndarray,
    length: np.ndarray,
    coef: np.ndarray,
    volume: np.float32,
    contact_d: np.ndarray | None,
    kc: np.float32,
    acc: np.ndarray,
    wgrid: np.ndarray | None,
    sx: np.ndarray,
    sy: np.ndarray,
    sz: np.ndarray,
    so: np.ndarray,
) -> None:
    """_directional_run over the forward half of the stencil (lps_kernels._pair_force_run's scheme): a bond's
    force added to its own particle and subtracted from the far end's cell (sx, sy, sz), its over-limit count to
    both (so). The bond force is symmetric (G from both ends' factors, w_i w_j); contact is not where volumes
    differ (V_j on i, V_i on j), so with contact the far end's factor is computed apart."""
    real = ux.dtype.type
    zero = real(0.0)
    one = real(1.0)
    half_ = real(0.5)
    tiny = real(1e-30)
    a1 = np.uint64(LANES)
    a2 = np.uint64(2 * LANES)
    a3 = np.uint64(3 * LANES)
    n = np.uint64(lanes)
    p = np.uint64(p0)
    i = np.uint64(i0)
    live = np.uint64(count)
    a5 = np.uint64(5 * LANES)
    a6 = np.uint64(6 * LANES)
    a7 = np.uint64(7 * LANES)
    a8 = np.uint64(8 * LANES)
    a9 = np.uint64(9 * LANES)
    a10 = np.uint64(10 * LANES)
    a11 = np.uint64(11 * LANES)
    alive = np.uint64(12 * LANES)
    avol = np.uint64(13 * LANES)
    tx = np.uint64(14 * LANES)
    ty = np.uint64(15 * LANES)
    tz = np.uint64(16 * LANES)
    to = np.uint64(17 * LANES)
    for k in range(n):
        acc[k] = zero
        acc[a1 + k] = zero
        acc[a2 + k] = zero
        acc[a3 + k] = zero
        acc[a5 + k] = ux[p + k]
        acc[a6 + k] = uy[p + k]
        acc[a7 + k] = uz[p + k]
        if slim is None:
            acc[a8 + k] = scrit[p + k]
        acc[a9 + k] = gx[p + k]
        acc[a10 + k] = gy[p + k]
        acc[a11 + k] = gz[p + k]
        acc[alive + k] = one if k < live else zero
        if contact_d is not None:
            acc[avol + k] = vol[p + k] if k < live else zero
    for t in range(half.shape[0]):
        b = np.uint64(half[t])
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
        ilb = inv_len[b]
        cv = coef[b] * half_ * volume * ilb
        nx = n2x[b]
        ny = n2y[b]
        nz = n2z[b]
        slb = zero
        if slim is not None:
            slb = slim * lb
        for k in range(n):
            cvi = _if_bit(bits[w, i + k], mask, cv) * acc[alive + k]
            if wgrid is not None:
                cvi *= wgrid[p + k] * wgrid[q + k]
            ex = ux[q + k] - acc[a5 + k]
            ey = uy[q + k] - acc[a6 + k]
            ez = uz[q + k] - acc[a7 + k]
            yx = xb + ex
            yy = yb + ey
            yz = zb + ez
            rr = np.sqrt(yx * yx + yy * yy + yz * yz)
            num = ex * (x2 + ex) + ey * (y2 + ey) + ez * (z2 + ez)
            rl = rr + lb
            hx = acc[a9 + k] + gx[q + k]
            hy = acc[a10 + k] + gy[q + k]
            hz = acc[a11 + k] + gz[q + k]
            hyz = hy * hz
            hxz = hx * hz
            hxy = hx * hy
            den = np.sqrt(nx * hyz * hyz + ny * hxz * hxz + nz * hxy * hxy)
            dr = den * rr
            inv = one / (dr * rl + tiny)
            fac = cvi * hx * hyz * num
            facj = fac
            if contact_d is not None:
                touch = kc * min(rr - contact_d[b], zero) * den * rl
                fac += touch * vol[q + k]
                facj += touch * (acc[avol + k] if vol[q + k] > zero else zero)  # nothing into empty cells
            fac *= inv
            facj *= inv
            acc[k] += fac * yx
            acc[a1 + k] += fac * yy
            acc[a2 + k] += fac * yz
            acc[tx + k] = facj * yx
            acc[ty + k] = facj * yy
            acc[tz + k] = facj * yz
            ext = num * dr * inv
            if slim is None:
                over = ext * ilb > min(acc[a8 + k], scrit[q + k])
            else:
                over = ext > slb
            o = cvi if over else zero
            acc[a3 + k] += o
            acc[to + k] = o
        for k in range(n):
            sx[q + k] -= acc[tx + k]
            sy[q + k] -= acc[ty + k]
            sz[q + k] -= acc[tz + k]
        for k in range(n):
            so[q + k] += acc[to + k]
    for k in range(live):
        sx[p + k] += acc[k]
        sy[p + k] += acc[a1 + k]
        sz[p + k] += acc[a2 + k]
        so[p + k] += acc[a3 + k]


@njit(cache=True, parallel=True)
def pmb_pair_directional(
    runs: np.ndarray,
    blocks: np.ndarray,  # (m, 4) int64 PairPlan.blocks
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    vol: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    gz: np.ndarray,
    n2x: np.ndarray,
    n2y: np.ndarray,
    n2z: np.ndarray,
    scrit: np.ndarray,
    uniform_limit: float,
    bits: np.ndarray,
    off: np.ndarray,
    half: np.ndarray,
    xix: np.ndarray,
    xiy: np.ndarray,
    xiz: np.ndarray,
    inv_len: np.ndarray,
    length: np.ndarray,
    coef: np.ndarray,
    volume: float,
    contact_d: np.ndarray | None,
    contact_k: float,
    grid: np.ndarray,  # (3, 4, ncells) per-cell sums fx, fy, fz, over-limit count; zero before
    wgrid: np.ndarray | None = None,
) -> None:
    """pmb_forces_directional over each bond once, the plan's blocks in parallel."""
    kc = ux.dtype.type(contact_k)
    vp = ux.dtype.type(volume)
    for c in prange(blocks.shape[0]):
        acc = np.empty(SCRATCH_PAIR * LANES, dtype=ux.dtype)
        for r in range(blocks[c, 0], blocks[c, 2]):
            g = grid[0] if r < blocks[c, 1] else grid[blocks[c, 3]]
            if uniform_limit >= 0.0:
                _pair_directional_run(
                    runs[r, 0], runs[r, 1], runs[r, 3], runs[r, 2], ux, uy, uz, vol, gx, gy, gz, n2x, n2y, n2z,
                    scrit, ux.dtype.type(uniform_limit), bits, off, half, xix, xiy, xiz, inv_len, length, coef, vp,
                    contact_d, kc, acc, wgrid, g[0], g[1], g[2], g[3],
                )  # fmt: skip
            else:
                _pair_directional_run(
                    runs[r, 0], runs[r, 1], runs[r, 3], runs[r, 2], ux, uy, uz, vol, gx, gy, gz, n2x, n2y, n2z,
                    scrit, None, bits, off, half, xix, xiy, xiz, inv_len, length, coef, vp, contact_d, kc, acc,
                    wgrid, g[0], g[1], g[2], g[3],
                )  # fmt: skip


@njit(cache=True, parallel=True)
def pmb_pair_finish(
    grid: np.ndarray,  # (3, 4, ncells) after a pair kernel; left zero at the particles' cells
    particle: np.ndarray,  # (n,) int32 lattice id of each frame particle
    cells: np.ndarray,  # (n,) int64 frame cell of each frame particle
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
    scrit: np.ndarray,
    force: np.ndarray,
    newly_broken: np.ndarray,
) -> None:
    """Forces by lattice particle id from the three buffers (zeroed once read); bonds over their limit break."""
    zero = ux.dtype.type(0.0)
    for f in prange(particle.shape[0]):
        i = particle[f]
        p = cells[f]
        fx = grid[0, 0, p] + grid[1, 0, p] + grid[2, 0, p]
        fy = grid[0, 1, p] + grid[1, 1, p] + grid[2, 1, p]
        fz = grid[0, 2, p] + grid[1, 2, p] + grid[2, 2, p]
        fo = grid[0, 3, p] + grid[1, 3, p] + grid[2, 3, p]
        for a in range(3):
            for r in range(4):
                grid[a, r, p] = zero
        force[i, 0] = fx
        force[i, 1] = fy
        force[i, 2] = fz
        broken = 0
        if fo > 0.0:
            broken = _break_over_limit(i, p, state_bits, off, ux, uy, uz, xix, xiy, xiz, length, inv_len, scrit)
        newly_broken[i] = broken
