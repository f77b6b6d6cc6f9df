"""Time integration kernels: velocity Verlet on the particle arrays (float64), mirrored to the grid the bond
kernels read (float32, or float64 on the float64 path).

Serial on purpose: a pass over the particles costs about 1 % of a force evaluation, less than waking threads
(which matters for small bodies and on a busy machine).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from physics.rotations import qexp, qmul

# Displacements below this (m) reach a float32 grid as 0. A stress wave running into material at rest leaves
# float64 displacements of 1e-40 m and less ahead of its front; in float32 those are denormals, and every bond
# touching one took the CPU's slow path: a 96,000-particle two-block impact ran its bond kernel 4.5x slower
# (126 vs 28 ms per evaluation) until the wave had filled the blocks; flushing below 1e-18 m left 32 ms (products
# of two tiny bond terms still underflow), below 1e-15 m 27.5 ms. A femtometre is far below any displacement a
# float32 grid resolves usefully (about 1e-7 of the displacement itself). A float64 grid (the float64 path) flushes
# only below FLUSH64: products of two bond terms stay far above its denormals (1e-308), and every displacement that
# could matter to the residual it exists to resolve is kept.
FLUSH = 1e-15
FLUSH64 = 1e-100


def _flush_below(grid):  # pragma: no cover - replaced in compiled code by the overload below
    raise NotImplementedError


@overload(_flush_below, inline="always")
def _flush_below_for(grid):
    """FLUSH for a float32 grid, FLUSH64 for a float64 one: chosen when a kernel is compiled for the grid."""
    limit = FLUSH if grid.dtype == types.float32 else FLUSH64
    return lambda grid: limit


@njit(cache=True, inline="always")
def _flushed(value: float, limit: float) -> float:
    return value if abs(value) > limit else 0.0


@njit(cache=True)
def kick_drift(
    u: np.ndarray,
    v: np.ndarray,
    force: np.ndarray,
    inv_rho: float,
    dt: float,
    free: np.ndarray,
    cells: np.ndarray,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
) -> None:
    """v += dt/2 * f/rho; u += dt * v (free particles only); copy u to the float32 grid the force kernels read
    (displacements below FLUSH as 0)."""
    half = 0.5 * dt * inv_rho
    limit = _flush_below(ux)
    for i in range(u.shape[0]):
        if free[i]:
            for a in range(3):
                v[i, a] += half * force[i, a]
                u[i, a] += dt * v[i, a]
        p = cells[i]
        ux[p] = _flushed(u[i, 0], limit)  # rounded to the grid's type on the store
        uy[p] = _flushed(u[i, 1], limit)
        uz[p] = _flushed(u[i, 2], limit)


@njit(cache=True)
def kick(
    v: np.ndarray, force: np.ndarray, inv_rho: float, dt: float, free: np.ndarray, damping: float
) -> None:
    """Second half kick v += dt/2 * f/rho, with optional viscous damping (fraction of v removed per step)."""
    half = 0.5 * dt * inv_rho
    keep = 1.0 - damping
    for i in range(v.shape[0]):
        if free[i]:
            for a in range(3):
                v[i, a] = (v[i, a] + half * force[i, a]) * keep


@njit(cache=True)
def kinetic_energy(v: np.ndarray, rho_volume: float) -> float:
    total = 0.0
    for i in range(v.shape[0]):
        total += v[i, 0] * v[i, 0] + v[i, 1] * v[i, 1] + v[i, 2] * v[i, 2]
    return 0.5 * rho_volume * total


@njit(cache=True)
def to_grid(u: np.ndarray, cells: np.ndarray, ux: np.ndarray, uy: np.ndarray, uz: np.ndarray) -> None:
    """Copy the (n, 3) displacements to the padded grids the force kernels read (float32: tiny values as 0;
    float64 on the float64 path)."""
    limit = _flush_below(ux)
    for i in range(u.shape[0]):
        p = cells[i]
        ux[p] = _flushed(u[i, 0], limit)
        uy[p] = _flushed(u[i, 1], limit)
        uz[p] = _flushed(u[i, 2], limit)


@njit(cache=True)
def rotate_drift(q, w, torque, inv_inertia, dt, free):
    """Half kick of the angular velocity (w += dt/2 * torque / I, world frame) and a drift of the orientation by
    the exact rotation exp(w dt) (a cube's inertia is isotropic, so there is no gyroscopic term)."""
    half = 0.5 * dt * inv_inertia
    for i in range(q.shape[0]):
        if not free[i]:
            continue
        for k in range(3):
            w[i, k] += half * torque[i, k]
        r = qexp(w[i, 0] * dt, w[i, 1] * dt, w[i, 2] * dt)
        p = qmul(r[0], r[1], r[2], r[3], q[i, 0], q[i, 1], q[i, 2], q[i, 3])
        n = 1.0 / math.sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2] + p[3] * p[3])
        for k in range(4):
            q[i, k] = p[k] * n


@njit(cache=True)
def rotate_kick(w, torque, inv_inertia, dt, free, damping):
    """Second half kick of the angular velocity, with the same viscous damping as the translations."""
    half = 0.5 * dt * inv_inertia
    keep = 1.0 - damping
    for i in range(w.shape[0]):
        if free[i]:
            for k in range(3):
                w[i, k] = (w[i, k] + half * torque[i, k]) * keep
