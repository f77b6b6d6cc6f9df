"""Kernels of physics/assembly.py: a matrix-free block operator of the active joints, the block-Jacobi smoother,
the coarse level's restriction and prolongation, the vector steps of conjugate gradients."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def apply(diag, off, oi, oj, m, nv, x, y):
    """y = K x over voxels 0..nv-1: diagonal 6 x 6 blocks plus the first ``m`` voxel-voxel joints' blocks."""
    for v in range(nv):
        for a in range(6):
            s = 0.0
            for b in range(6):
                s += diag[v, a, b] * x[6 * v + b]
            y[6 * v + a] = s
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
