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
def worst_joint(sec, strength, dofs, m, d):
    """(largest utilisation, its joint position) over the first ``m`` joints: section = sec[e] @ d[dofs[e]]
    (N, V_y, V_z, T, M_y, M_z), U = max(N, 0)/N_u + |V|/V_u + |M|/M_u + |T|/T_u."""
    best = 0.0
    where = -1
    s = np.empty(6)
    for e in range(m):
        for a in range(6):
            acc = 0.0
            for b in range(12):
                acc += sec[e, a, b] * d[dofs[e, b]]
            s[a] = acc
        u = (
            max(s[0], 0.0) / strength[e, 0]
            + math.sqrt(s[1] * s[1] + s[2] * s[2]) / strength[e, 1]
            + math.sqrt(s[4] * s[4] + s[5] * s[5]) / strength[e, 2]
            + abs(s[3]) / strength[e, 3]
        )
        if u > best:
            best = u
            where = e
    return best, where


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


# the 10 entries of a beam joint's off-diagonal 6 x 6 block along axis a (b, c the next two axes cyclically):
# (row, column) = (a, a), (3+a, 3+a), (b, b), (b, 3+c), (3+c, b), (3+c, 3+c), (c, c), (c, 3+b), (3+b, c), (3+b, 3+b)
@njit(cache=True)
def apply_beam(diag, w, oaxis, oi, oj, m, nv, x, y):
    """y = K x as ``apply``, each voxel-voxel joint's off-diagonal block by its 10 nonzero entries ``w`` (the
    order above; BuildSequence checks that its blocks have no others): 20 products a joint instead of 72."""
    _diagonal(diag, nv, x, y)
    for e in range(m):
        i6 = 6 * oi[e]
        j6 = 6 * oj[e]
        a = oaxis[e]
        b = a + 1 if a < 2 else 0
        c = b + 1 if b < 2 else 0
        y[i6 + a] += w[e, 0] * x[j6 + a]
        y[i6 + 3 + a] += w[e, 1] * x[j6 + 3 + a]
        y[i6 + b] += w[e, 2] * x[j6 + b] + w[e, 3] * x[j6 + 3 + c]
        y[i6 + 3 + c] += w[e, 4] * x[j6 + b] + w[e, 5] * x[j6 + 3 + c]
        y[i6 + c] += w[e, 6] * x[j6 + c] + w[e, 7] * x[j6 + 3 + b]
        y[i6 + 3 + b] += w[e, 8] * x[j6 + c] + w[e, 9] * x[j6 + 3 + b]
        y[j6 + a] += w[e, 0] * x[i6 + a]
        y[j6 + 3 + a] += w[e, 1] * x[i6 + 3 + a]
        y[j6 + b] += w[e, 2] * x[i6 + b] + w[e, 4] * x[i6 + 3 + c]
        y[j6 + 3 + c] += w[e, 3] * x[i6 + b] + w[e, 5] * x[i6 + 3 + c]
        y[j6 + c] += w[e, 6] * x[i6 + c] + w[e, 8] * x[i6 + 3 + b]
        y[j6 + 3 + b] += w[e, 7] * x[i6 + c] + w[e, 9] * x[i6 + 3 + b]


@njit(cache=True)
def tree_energy(parent, offset, kplus, kindex, side, nv, clamped, r):
    """Complementary energy of the joint forces that carry the loads ``r`` (the residual, (6 nv,), N and N m
    about each voxel's centre) to the support along a tree of joints: voxel v hands everything on its subtree to
    its parent (parent[v] < v, or past nv: the plate) through its tree joint, whose end forces (v's end: the
    subtree's resultant about v's centre; the parent's end: its opposite about the parent's centre, ``offset`` =
    centre of v - centre of the parent) cost f^T K^+ f (kplus[kindex[v]], the joint's flexibility over its 12
    DOFs, v's end first when side[v] == 0). The sum bounds r^T K^{-1} r from above (complementary energy)."""
    acc = np.zeros((nv, 6))
    for v in range(clamped, nv):
        for a in range(6):
            acc[v, a] = r[6 * v + a]
    f = np.empty(12)
    total = 0.0
    for v in range(nv - 1, clamped - 1, -1):
        k = kindex[v]
        if k < 0:
            continue
        f0 = acc[v, 0]
        f1 = acc[v, 1]
        f2 = acc[v, 2]
        l0 = offset[v, 0]
        l1 = offset[v, 1]
        l2 = offset[v, 2]
        m0 = acc[v, 3] + l1 * f2 - l2 * f1
        m1 = acc[v, 4] + l2 * f0 - l0 * f2
        m2 = acc[v, 5] + l0 * f1 - l1 * f0
        o = 6 * side[v]
        q = 6 - o
        f[o] = f0
        f[o + 1] = f1
        f[o + 2] = f2
        f[o + 3] = acc[v, 3]
        f[o + 4] = acc[v, 4]
        f[o + 5] = acc[v, 5]
        f[q] = -f0
        f[q + 1] = -f1
        f[q + 2] = -f2
        f[q + 3] = -m0
        f[q + 4] = -m1
        f[q + 5] = -m2
        s = 0.0
        for a in range(12):
            t = 0.0
            for b in range(12):
                t += kplus[k, a, b] * f[b]
            s += f[a] * t
        total += s
        w = parent[v]
        if clamped <= w < nv:
            acc[w, 0] += f0
            acc[w, 1] += f1
            acc[w, 2] += f2
            acc[w, 3] += m0
            acc[w, 4] += m1
            acc[w, 5] += m2
    return total
