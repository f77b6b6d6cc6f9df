"""Time integration kernels: velocity Verlet on the particle arrays (float64), mirrored to the float32 grid.

Serial on purpose: a pass over the particles costs about 1 % of a force evaluation, less than waking threads
(which matters for small bodies and on a busy machine).
"""

from __future__ import annotations

import numpy as np
from numba import njit


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
    """v += dt/2 * f/rho; u += dt * v (free particles only); copy u to the float32 grid the force kernels read."""
    half = 0.5 * dt * inv_rho
    for i in range(u.shape[0]):
        if free[i]:
            for a in range(3):
                v[i, a] += half * force[i, a]
                u[i, a] += dt * v[i, a]
        p = cells[i]
        ux[p] = u[i, 0]
        uy[p] = u[i, 1]
        uz[p] = u[i, 2]


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
    """Copy the (n, 3) displacements to the float32 padded grids the force kernels read."""
    for i in range(u.shape[0]):
        p = cells[i]
        ux[p] = u[i, 0]
        uy[p] = u[i, 1]
        uz[p] = u[i, 2]
