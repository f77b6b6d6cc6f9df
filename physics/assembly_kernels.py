"""Kernels of physics/assembly.py: a matrix-free block operator of the active joints, the block-Jacobi smoother,
the coarse level's restriction and prolongation, the vector steps of conjugate gradients."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _diagonal(diag, nv, x, y):
    """y = the diagonal 6 x 6 blocks of voxels 0..nv-1 times x (both products start with it)."""
    for v in range(nv):
        for a in range(6):
            s = 0.0
            for b in range(6):
                s += diag[v, a, b] * x[6 * v + b]
            y[6 * v + a] = s


@njit(cache=True)
def apply(diag, off, oi, oj, m, nv, x, y):
    """y = K x over voxels 0..nv-1: diagonal 6 x 6 blocks plus the first ``m`` voxel-voxel joints' blocks."""
    _diagonal(diag, nv, x, y)
    for e in range(m):
        i = oi[e]
        j = oj[e]
        for a in range(6):
            si = 0.0
            sj = 0.0
            for b in range(6):
                si += off[e, a, b] * x[6 * j + b]
                sj += off[e, b, a] * x[6 * i + b]
            y[6 * i + a] += si
            y[6 * j + a] += sj


@njit(cache=True)
def precondition(inv, nv, r, z, clamped):
    for v in range(nv):
        for a in range(6):
            s = 0.0
            if v >= clamped:
                for b in range(6):
                    s += inv[v, a, b] * r[6 * v + b]
            z[6 * v + a] = s


@njit(cache=True)
def restrict(agg, lever, coarse, nv, clamped, r, c):
    """c += Z^T r: each voxel's force and moment residual onto the rigid-body modes (translation, rotation about
    its aggregate's centre, ``lever`` = voxel centre - aggregate centre) of its aggregate's coarse index
    ``coarse[agg[v]]`` (-1: no coarse DOFs)."""
    for v in range(clamped, nv):
        a = coarse[agg[v]]
        if a < 0:
            continue
        f0 = r[6 * v]
        f1 = r[6 * v + 1]
        f2 = r[6 * v + 2]
        l0 = lever[v, 0]
        l1 = lever[v, 1]
        l2 = lever[v, 2]
        c[6 * a] += f0
        c[6 * a + 1] += f1
        c[6 * a + 2] += f2
        c[6 * a + 3] += l1 * f2 - l2 * f1 + r[6 * v + 3]
        c[6 * a + 4] += l2 * f0 - l0 * f2 + r[6 * v + 4]
        c[6 * a + 5] += l0 * f1 - l1 * f0 + r[6 * v + 5]


@njit(cache=True)
def prolong_add(agg, lever, coarse, nv, clamped, c, z):
    """z += Z c: each voxel moves with its aggregate's rigid-body motion (u = t + w x lever, theta = w)."""
    for v in range(clamped, nv):
        a = coarse[agg[v]]
        if a < 0:
            continue
        w0 = c[6 * a + 3]
        w1 = c[6 * a + 4]
        w2 = c[6 * a + 5]
        l0 = lever[v, 0]
        l1 = lever[v, 1]
        l2 = lever[v, 2]
        z[6 * v] += c[6 * a] + w1 * l2 - w2 * l1
        z[6 * v + 1] += c[6 * a + 1] + w2 * l0 - w0 * l2
        z[6 * v + 2] += c[6 * a + 2] + w0 * l1 - w1 * l0
        z[6 * v + 3] += w0
        z[6 * v + 4] += w1
        z[6 * v + 5] += w2


@njit(cache=True)
def dot(a, b):
    s = 0.0
    for k in range(a.size):
        s += a[k] * b[k]
    return s


@njit(cache=True)
def cg_step(x, r, s, q, alpha):
    """x += alpha s, r -= alpha q; returns |r|^2."""
    rr = 0.0
    for k in range(x.size):
        x[k] += alpha * s[k]
        r[k] -= alpha * q[k]
        rr += r[k] * r[k]
    return rr


@njit(cache=True)
def new_direction(s, z, beta):
    for k in range(s.size):
        s[k] = z[k] + beta * s[k]


@njit(cache=True)
def worst_joint_typed(vi, vj, kind, val, col, inverse_strength, m, d):
    """(largest utilisation, its joint position) over the first ``m`` joints. Joint e joins voxels vi[e] and
    vj[e] (-1: the held plate, zero displacement); its section (N, V_y, V_z, T, M_y, M_z) = S d over their 12 DOFs,
    S of its kind t = kind[e] by the nonzero entries of each row (resultant a = sum_k val[t, a, k]
    d12[col[t, a, k]], padding val 0); U = max(N, 0)/N_u + |V|/V_u + |M|/M_u + |T|/T_u (``inverse_strength[t]`` =
    1 / (N_u, V_u, M_u, T_u)). The square roots are taken only where the bound with |V| <= |V_y| + |V_z| (and so
    for M) could pass the largest so far."""
    best = 0.0
    where = -1
    width = val.shape[2]
    s = np.empty(6)
    d12 = np.empty(12)
    for e in range(m):
        i = vi[e]
        j = vj[e]
        t = kind[e]
        if i >= 0:
            for a in range(6):
                d12[a] = d[6 * i + a]
        else:
            d12[:6] = 0.0
        if j >= 0:
            for a in range(6):
                d12[6 + a] = d[6 * j + a]
        else:
            d12[6:] = 0.0
        for a in range(6):
            acc = 0.0
            for k in range(width):
                acc += val[t, a, k] * d12[col[t, a, k]]
            s[a] = acc
        inv_n = inverse_strength[t, 0]
        inv_v = inverse_strength[t, 1]
        inv_m = inverse_strength[t, 2]
        base = max(s[0], 0.0) * inv_n + abs(s[3]) * inverse_strength[t, 3]
        upper = base + (abs(s[1]) + abs(s[2])) * inv_v + (abs(s[4]) + abs(s[5])) * inv_m
        if upper <= best:
            continue
        u = base + math.sqrt(s[1] * s[1] + s[2] * s[2]) * inv_v + math.sqrt(s[4] * s[4] + s[5] * s[5]) * inv_m
        if u > best:
            best = u
            where = e
    return best, where


@njit(cache=True)
def tree_energy_reduced(parent, offset, flex, nv, clamped, r):
    """Complementary energy of the joint forces that carry the loads ``r`` (the residual, (6 nv,), N and N m
    about each voxel's centre) to the support along a tree of joints: voxel v hands everything on its subtree to
    its parent (parent[v] < v, or past nv: the plate) through its tree joint; F (the subtree's force and moment
    about v's centre) costs F^T Q_v F there (``flex[v]``: the joint's flexibility K^+ over its end forces, v's end
    F and the parent's end -F with the moment moved by ``offset`` = centre of v - centre of the parent; zero
    without a tree joint). The sum bounds r^T K^{-1} r from above (complementary energy)."""
    acc = np.zeros((nv, 6))
    for v in range(clamped, nv):
        for a in range(6):
            acc[v, a] = r[6 * v + a]
    total = 0.0
    for v in range(nv - 1, clamped - 1, -1):
        s = 0.0
        for a in range(6):
            t = 0.0
            for b in range(6):
                t += flex[v, a, b] * acc[v, b]
            s += acc[v, a] * t
        total += s
        w = parent[v]
        if clamped <= w < nv:
            f0 = acc[v, 0]
            f1 = acc[v, 1]
            f2 = acc[v, 2]
            l0 = offset[v, 0]
            l1 = offset[v, 1]
            l2 = offset[v, 2]
            acc[w, 0] += f0
            acc[w, 1] += f1
            acc[w, 2] += f2
            acc[w, 3] += acc[v, 3] + l1 * f2 - l2 * f1
            acc[w, 4] += acc[v, 4] + l2 * f0 - l0 * f2
            acc[w, 5] += acc[v, 5] + l0 * f1 - l1 * f0
    return total


# the off-diagonal entries (row, column), row < column, that a beam joint's diagonal block can hold in global axes:
# along axis a (b, c the next two) it couples (b, 3+c) and (c, 3+b); the three axes together give these six
BEAM_DIAGONAL_PAIRS = ((0, 4), (0, 5), (1, 3), (1, 5), (2, 3), (2, 4))


@njit(cache=True)
def apply_compact(dd, dc, nb, widx, wtab, nv, clamped, x, y):
    """y = K x over voxels 0..nv-1 for beam joints, gathered voxel by voxel (each y block written once): the
    diagonal block by its 6 diagonal entries ``dd[v]`` and 6 symmetric couplings ``dc[v]`` (``BEAM_DIAGONAL_PAIRS``),
    plus, per face slot (+x, -x, +y, -y, +z, -z), the joint to neighbour ``nb[v, slot]`` when that voxel is placed
    (< nv), by the 10 nonzero entries of a beam joint's off-diagonal block along axis a (b, c the next two axes
    cyclically), ``wtab[widx[v, slot]]`` (a lattice has few distinct joints), in the order (row, column) = (a, a),
    (3+a, 3+a), (b, b), (b, 3+c), (3+c, b), (3+c, 3+c), (c, c), (c, 3+b), (3+b, c), (3+b, 3+b) of the block with v
    as the row (BuildSequence checks that its blocks have no others): 18 + 60 products a voxel. Rows of clamped
    voxels are zero. Returns x . y."""
    xy = 0.0
    for v in range(nv):
        v6 = 6 * v
        if v < clamped:
            for a in range(6):
                y[v6 + a] = 0.0
            continue
        x0 = x[v6]
        x1 = x[v6 + 1]
        x2 = x[v6 + 2]
        x3 = x[v6 + 3]
        x4 = x[v6 + 4]
        x5 = x[v6 + 5]
        c04 = dc[v, 0]
        c05 = dc[v, 1]
        c13 = dc[v, 2]
        c15 = dc[v, 3]
        c23 = dc[v, 4]
        c24 = dc[v, 5]
        y0 = dd[v, 0] * x0 + c04 * x4 + c05 * x5
        y1 = dd[v, 1] * x1 + c13 * x3 + c15 * x5
        y2 = dd[v, 2] * x2 + c23 * x3 + c24 * x4
        y3 = dd[v, 3] * x3 + c13 * x1 + c23 * x2
        y4 = dd[v, 4] * x4 + c04 * x0 + c24 * x2
        y5 = dd[v, 5] * x5 + c05 * x0 + c15 * x1
        # the face slots by axis (the axis fixes which entries meet; scalars the compiler keeps in registers)
        for slot in range(0, 2):  # the +/- faces along axis 0: the same entries meet
            u = nb[v, slot]
            if 0 <= u < nv:
                k = widx[v, slot]
                u6 = 6 * u
                y0 += wtab[k, 0] * x[u6 + 0]
                y3 += wtab[k, 1] * x[u6 + 3]
                y1 += wtab[k, 2] * x[u6 + 1] + wtab[k, 3] * x[u6 + 5]
                y5 += wtab[k, 4] * x[u6 + 1] + wtab[k, 5] * x[u6 + 5]
                y2 += wtab[k, 6] * x[u6 + 2] + wtab[k, 7] * x[u6 + 4]
                y4 += wtab[k, 8] * x[u6 + 2] + wtab[k, 9] * x[u6 + 4]
        for slot in range(2, 4):  # the +/- faces along axis 1: the same entries meet
            u = nb[v, slot]
            if 0 <= u < nv:
                k = widx[v, slot]
                u6 = 6 * u
                y1 += wtab[k, 0] * x[u6 + 1]
                y4 += wtab[k, 1] * x[u6 + 4]
                y2 += wtab[k, 2] * x[u6 + 2] + wtab[k, 3] * x[u6 + 3]
                y3 += wtab[k, 4] * x[u6 + 2] + wtab[k, 5] * x[u6 + 3]
                y0 += wtab[k, 6] * x[u6 + 0] + wtab[k, 7] * x[u6 + 5]
                y5 += wtab[k, 8] * x[u6 + 0] + wtab[k, 9] * x[u6 + 5]
        for slot in range(4, 6):  # the +/- faces along axis 2: the same entries meet
            u = nb[v, slot]
            if 0 <= u < nv:
                k = widx[v, slot]
                u6 = 6 * u
                y2 += wtab[k, 0] * x[u6 + 2]
                y5 += wtab[k, 1] * x[u6 + 5]
                y0 += wtab[k, 2] * x[u6 + 0] + wtab[k, 3] * x[u6 + 4]
                y4 += wtab[k, 4] * x[u6 + 0] + wtab[k, 5] * x[u6 + 4]
                y1 += wtab[k, 6] * x[u6 + 1] + wtab[k, 7] * x[u6 + 3]
                y3 += wtab[k, 8] * x[u6 + 1] + wtab[k, 9] * x[u6 + 3]
        y[v6] = y0
        y[v6 + 1] = y1
        y[v6 + 2] = y2
        y[v6 + 3] = y3
        y[v6 + 4] = y4
        y[v6 + 5] = y5
        xy += x0 * y0 + x1 * y1 + x2 * y2 + x3 * y3 + x4 * y4 + x5 * y5
    return xy


@njit(cache=True)
def step_smooth_dot(x, r, s, q, alpha, inv, agg, lever, coarse, nv, clamped, z, c):
    """One CG update and the first half of the two-level preconditioner in one pass: x += alpha s, r -= alpha q;
    z = the block-Jacobi smoother's D^-1 r; c = Z^T r (``restrict``, c zeroed here). Returns (|r|^2, r . z)."""
    rr = 0.0
    rz = 0.0
    for k in range(6 * nv):
        x[k] += alpha * s[k]
        r[k] -= alpha * q[k]
        rr += r[k] * r[k]
    c[:] = 0.0
    for v in range(nv):
        v6 = 6 * v
        if v < clamped:
            for a in range(6):
                z[v6 + a] = 0.0
            continue
        for a in range(6):
            t = 0.0
            for b in range(6):
                t += inv[v, a, b] * r[v6 + b]
            z[v6 + a] = t
            rz += r[v6 + a] * t
        ai = coarse[agg[v]]
        if ai < 0:
            continue
        f0 = r[v6]
        f1 = r[v6 + 1]
        f2 = r[v6 + 2]
        l0 = lever[v, 0]
        l1 = lever[v, 1]
        l2 = lever[v, 2]
        c[6 * ai] += f0
        c[6 * ai + 1] += f1
        c[6 * ai + 2] += f2
        c[6 * ai + 3] += l1 * f2 - l2 * f1 + r[v6 + 3]
        c[6 * ai + 4] += l2 * f0 - l0 * f2 + r[v6 + 4]
        c[6 * ai + 5] += l0 * f1 - l1 * f0 + r[v6 + 5]
    return rr, rz


@njit(cache=True)
def prolong_direction(agg, lever, coarse, nv, clamped, cc, z, s, beta):
    """s = z + Z cc + beta s: the preconditioned residual (smoother part ``z`` plus the coarse correction
    prolonged) and the new search direction in one pass (its r . z is r . D^-1 r + (Z^T r) . cc)."""
    for v in range(nv):
        v6 = 6 * v
        if v < clamped:
            continue
        a = coarse[agg[v]]
        if a < 0:
            for k in range(6):
                s[v6 + k] = z[v6 + k] + beta * s[v6 + k]
            continue
        w0 = cc[6 * a + 3]
        w1 = cc[6 * a + 4]
        w2 = cc[6 * a + 5]
        l0 = lever[v, 0]
        l1 = lever[v, 1]
        l2 = lever[v, 2]
        s[v6] = z[v6] + cc[6 * a] + w1 * l2 - w2 * l1 + beta * s[v6]
        s[v6 + 1] = z[v6 + 1] + cc[6 * a + 1] + w2 * l0 - w0 * l2 + beta * s[v6 + 1]
        s[v6 + 2] = z[v6 + 2] + cc[6 * a + 2] + w0 * l1 - w1 * l0 + beta * s[v6 + 2]
        s[v6 + 3] = z[v6 + 3] + w0 + beta * s[v6 + 3]
        s[v6 + 4] = z[v6 + 4] + w1 + beta * s[v6 + 4]
        s[v6 + 5] = z[v6 + 5] + w2 + beta * s[v6 + 5]


@njit(cache=True)
def add_shifted(nb, slot, q, p, newer, older, previous, x):
    """``BuildSequence._shift_increment`` for beam joints: each voxel v < p gets state q's change (newer - older)
    of the voxel one step back, ``nb[v, slot]``, where that one is among voxels 0..q-1, else its own (where v is);
    the new voxel p moves from the newest one as voxel q did from q - 1 (previous[p-1] + newer[q] - older[q-1])."""
    for v in range(p):
        u = nb[v, slot]
        if not (0 <= u <= q - 1):
            u = v  # none one step back: the smooth far field's own change
        if u <= q - 1:
            for a in range(6):
                x[6 * v + a] += newer[6 * u + a] - older[6 * u + a]
    for a in range(6):
        x[6 * p + a] = previous[6 * (p - 1) + a] + newer[6 * q + a] - older[6 * (q - 1) + a]


@njit(cache=True)
def shift_gap(nb, slot, q, p, ijk):
    """The least lattice distance (largest of the three axes) from voxel p to a voxel v < p whose source one step
    back (``nb[v, slot]``) is not among voxels 0..q-1 (``add_shifted`` moves it by its own change instead)."""
    best = 1 << 30
    for v in range(p):
        u = nb[v, slot]
        if not (0 <= u <= q - 1):
            d = max(abs(ijk[v, 0] - ijk[p, 0]), abs(ijk[v, 1] - ijk[p, 1]), abs(ijk[v, 2] - ijk[p, 2]))
            if d < best:
                best = d
    return best


@njit(cache=True)
def add_joints(K, dofs, lo, hi, diag, pair_of, coarse_elements, coarse_blocks):
    """Joints lo..hi-1 activate: each adds its two diagonal 6 x 6 blocks to its voxels' (``diag``, the plate's
    row n too) and its four coarse blocks (``coarse_elements``, rows / columns 0 and 6) to their pairs of
    aggregates (``pair_of[k, t]``, t = 2 row + column; -1: none)."""
    for k in range(lo, hi):
        i = dofs[k, 0] // 6
        j = dofs[k, 6] // 6
        for a in range(6):
            for b in range(6):
                diag[i, a, b] += K[k, a, b]
                diag[j, a, b] += K[k, 6 + a, 6 + b]
        for t in range(4):
            pair = pair_of[k, t]
            if pair < 0:
                continue
            oa = 6 * (t // 2)
            ob = 6 * (t % 2)
            for a in range(6):
                for b in range(6):
                    coarse_blocks[pair, a, b] += coarse_elements[k, oa + a, ob + b]


@njit(cache=True, inline="always")
def _gather(nb, widx, wtab, v, lo, hi, x, t0, t1, t2, t3, t4, t5):
    """(t0..t5) minus the beam joints' off-diagonal blocks of voxel v (as the row) times x's neighbour voxels u with
    lo <= u < hi, per face slot axis as in ``apply_compact`` (the same entries meet along an axis)."""
    for slot in range(0, 2):
        u = nb[v, slot]
        if lo <= u < hi:
            k = widx[v, slot]
            u6 = 6 * u
            t0 -= wtab[k, 0] * x[u6]
            t3 -= wtab[k, 1] * x[u6 + 3]
            t1 -= wtab[k, 2] * x[u6 + 1] + wtab[k, 3] * x[u6 + 5]
            t5 -= wtab[k, 4] * x[u6 + 1] + wtab[k, 5] * x[u6 + 5]
            t2 -= wtab[k, 6] * x[u6 + 2] + wtab[k, 7] * x[u6 + 4]
            t4 -= wtab[k, 8] * x[u6 + 2] + wtab[k, 9] * x[u6 + 4]
    for slot in range(2, 4):
        u = nb[v, slot]
        if lo <= u < hi:
            k = widx[v, slot]
            u6 = 6 * u
            t1 -= wtab[k, 0] * x[u6 + 1]
            t4 -= wtab[k, 1] * x[u6 + 4]
            t2 -= wtab[k, 2] * x[u6 + 2] + wtab[k, 3] * x[u6 + 3]
            t3 -= wtab[k, 4] * x[u6 + 2] + wtab[k, 5] * x[u6 + 3]
            t0 -= wtab[k, 6] * x[u6] + wtab[k, 7] * x[u6 + 5]
            t5 -= wtab[k, 8] * x[u6] + wtab[k, 9] * x[u6 + 5]
    for slot in range(4, 6):
        u = nb[v, slot]
        if lo <= u < hi:
            k = widx[v, slot]
            u6 = 6 * u
            t2 -= wtab[k, 0] * x[u6 + 2]
            t5 -= wtab[k, 1] * x[u6 + 5]
            t0 -= wtab[k, 2] * x[u6] + wtab[k, 3] * x[u6 + 4]
            t4 -= wtab[k, 4] * x[u6] + wtab[k, 5] * x[u6 + 4]
            t1 -= wtab[k, 6] * x[u6 + 1] + wtab[k, 7] * x[u6 + 3]
            t3 -= wtab[k, 8] * x[u6 + 1] + wtab[k, 9] * x[u6 + 3]
    return t0, t1, t2, t3, t4, t5


@njit(cache=True, inline="always")
def _block_solve(inv, rd, v, y, v6, t0, t1, t2, t3, t4, t5, add):
    """y[v6:v6+6] (= if not add, += if add) the inverted diagonal block of voxel v times (t0..t5): by the
    reciprocals of its diagonal ``rd[v]`` where the block is diagonal (``rd[v, 0]`` > 0; a voxel whose six faces
    are joined to the same part type: the couplings of opposite faces cancel), else the dense inverse."""
    if rd[v, 0] > 0.0:
        if add:
            y[v6] += rd[v, 0] * t0
            y[v6 + 1] += rd[v, 1] * t1
            y[v6 + 2] += rd[v, 2] * t2
            y[v6 + 3] += rd[v, 3] * t3
            y[v6 + 4] += rd[v, 4] * t4
            y[v6 + 5] += rd[v, 5] * t5
        else:
            y[v6] = rd[v, 0] * t0
            y[v6 + 1] = rd[v, 1] * t1
            y[v6 + 2] = rd[v, 2] * t2
            y[v6 + 3] = rd[v, 3] * t3
            y[v6 + 4] = rd[v, 4] * t4
            y[v6 + 5] = rd[v, 5] * t5
        return
    for a in range(6):
        w = inv[v, a]
        acc = w[0] * t0 + w[1] * t1 + w[2] * t2 + w[3] * t3 + w[4] * t4 + w[5] * t5
        if add:
            y[v6 + a] += acc
        else:
            y[v6 + a] = acc


@njit(cache=True)
def step_forward_sweep(x, r, s, q, alpha, inv, rd, nb, widx, wtab, agg, lever, coarse, nv, clamped, y, c):
    """One CG update and the first half of the two-level symmetric Gauss-Seidel preconditioner in one pass, voxel by
    voxel in placement order: x += alpha s, r -= alpha q; the forward block sweep y = (D + L)^-1 r (L: the joints to
    earlier voxels, beam blocks as in ``apply_compact``); c = Z^T r (``restrict``, c zeroed here). Returns |r|^2."""
    rr = 0.0
    c[:] = 0.0
    for v in range(nv):
        v6 = 6 * v
        for a in range(6):
            x[v6 + a] += alpha * s[v6 + a]
            r[v6 + a] -= alpha * q[v6 + a]
        f0 = r[v6]
        f1 = r[v6 + 1]
        f2 = r[v6 + 2]
        f3 = r[v6 + 3]
        f4 = r[v6 + 4]
        f5 = r[v6 + 5]
        rr += f0 * f0 + f1 * f1 + f2 * f2 + f3 * f3 + f4 * f4 + f5 * f5
        if v < clamped:
            for a in range(6):
                y[v6 + a] = 0.0
            continue
        t0, t1, t2, t3, t4, t5 = _gather(nb, widx, wtab, v, clamped, v, y, f0, f1, f2, f3, f4, f5)
        _block_solve(inv, rd, v, y, v6, t0, t1, t2, t3, t4, t5, False)
        ai = coarse[agg[v]]
        if ai < 0:
            continue
        l0 = lever[v, 0]
        l1 = lever[v, 1]
        l2 = lever[v, 2]
        c[6 * ai] += f0
        c[6 * ai + 1] += f1
        c[6 * ai + 2] += f2
        c[6 * ai + 3] += l1 * f2 - l2 * f1 + f3
        c[6 * ai + 4] += l2 * f0 - l0 * f2 + f4
        c[6 * ai + 5] += l0 * f1 - l1 * f0 + f5
    return rr


@njit(cache=True)
def backward_sweep(inv, rd, nb, widx, wtab, nv, clamped, r, z):
    """The second half of the symmetric Gauss-Seidel preconditioner, in place: z = (D + U)^-1 D y for the forward
    sweep's y (in ``z``), voxel by voxel in reverse order: z_v = y_v - D_v^-1 (sum over later voxels u of K_vu z_u).
    Returns r . z."""
    rz = 0.0
    for v in range(nv - 1, clamped - 1, -1):
        v6 = 6 * v
        t0, t1, t2, t3, t4, t5 = _gather(nb, widx, wtab, v, v + 1, nv, z, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        _block_solve(inv, rd, v, z, v6, t0, t1, t2, t3, t4, t5, True)
        rz += (r[v6] * z[v6] + r[v6 + 1] * z[v6 + 1] + r[v6 + 2] * z[v6 + 2] + r[v6 + 3] * z[v6 + 3]
               + r[v6 + 4] * z[v6 + 4] + r[v6 + 5] * z[v6 + 5])  # fmt: skip
    return rz


@njit(cache=True)
def refresh_blocks(diag, nodes, inv, dd, dc, rd):
    """The voxels ``nodes`` gained joints: their inverted diagonal blocks (zero while a block is), the blocks'
    diagonals ``dd`` and couplings ``dc`` (``BEAM_DIAGONAL_PAIRS``) of ``apply_compact``; ``rd`` the reciprocals of
    the diagonal where the block holds nothing else (else 0: ``_block_solve``)."""
    for v in nodes:
        held = False
        for a in range(6):
            for b in range(6):
                if diag[v, a, b] != 0.0:
                    held = True
        if held:
            inv[v] = np.linalg.inv(diag[v])
        else:
            inv[v] = 0.0
        for a in range(6):
            dd[v, a] = diag[v, a, a]
        diagonal = held
        for a in range(6):
            for b in range(6):
                if a != b and diag[v, a, b] != 0.0:
                    diagonal = False
        for k in range(6):
            dc[v, k] = diag[v, BEAM_DIAGONAL_PAIRS[k][0], BEAM_DIAGONAL_PAIRS[k][1]]
        for a in range(6):
            rd[v, a] = 1.0 / diag[v, a, a] if diagonal else 0.0
