"""Kernels of physics/assembly.py: a matrix-free block operator of the active joints and preconditioned CG."""

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
def pcg(diag, inv, off, oi, oj, m, nv, f, x, tolerance, max_iterations, clamped):
    """Solve K x = f in place from the given x (block-Jacobi preconditioned CG); the first ``clamped`` voxels are
    held (their rows and columns dropped). Stops when |r| <= tolerance |f|; returns the iterations."""
    size = 6 * nv
    r = np.empty(size)
    z = np.empty(size)
    s = np.empty(size)
    q = np.empty(size)
    for k in range(6 * clamped):
        x[k] = 0.0
    apply(diag, off, oi, oj, m, nv, x, q)
    norm_f = 0.0
    for k in range(size):
        r[k] = f[k] - q[k] if k >= 6 * clamped else 0.0
        norm_f += f[k] * f[k] if k >= 6 * clamped else 0.0
    target = tolerance * math.sqrt(norm_f)
    precondition(inv, nv, r, z, clamped)
    rz = 0.0
    rr = 0.0
    for k in range(size):
        s[k] = z[k]
        rz += r[k] * z[k]
        rr += r[k] * r[k]
    it = 0
    while math.sqrt(rr) > target and it < max_iterations:
        apply(diag, off, oi, oj, m, nv, s, q)
        for k in range(6 * clamped):
            q[k] = 0.0
        sq = 0.0
        for k in range(size):
            sq += s[k] * q[k]
        alpha = rz / sq
        rr = 0.0
        for k in range(size):
            x[k] += alpha * s[k]
            r[k] -= alpha * q[k]
            rr += r[k] * r[k]
        precondition(inv, nv, r, z, clamped)
        rz_new = 0.0
        for k in range(size):
            rz_new += r[k] * z[k]
        beta = rz_new / rz
        rz = rz_new
        for k in range(size):
            s[k] = z[k] + beta * s[k]
        it += 1
    return it


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
