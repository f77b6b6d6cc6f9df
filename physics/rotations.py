"""Unit quaternions [w, x, y, z] for particles with orientation (6-DOF laws): products, rotations, and the
exponential and logarithm maps between quaternions and rotation vectors (axis * angle, rad). numba, inlined.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True, inline="always")
def qmul(a0, a1, a2, a3, b0, b1, b2, b3):
    """Hamilton product a * b."""
    return (
        a0 * b0 - a1 * b1 - a2 * b2 - a3 * b3,
        a0 * b1 + a1 * b0 + a2 * b3 - a3 * b2,
        a0 * b2 - a1 * b3 + a2 * b0 + a3 * b1,
        a0 * b3 + a1 * b2 - a2 * b1 + a3 * b0,
    )


@njit(cache=True, inline="always")
def qrotate(q0, q1, q2, q3, x, y, z):
    """Rotate the vector (x, y, z) by the unit quaternion q: q v q*."""
    # t = 2 q_v x v; v' = v + w t + q_v x t
    tx = 2.0 * (q2 * z - q3 * y)
    ty = 2.0 * (q3 * x - q1 * z)
    tz = 2.0 * (q1 * y - q2 * x)
    return (
        x + q0 * tx + (q2 * tz - q3 * ty),
        y + q0 * ty + (q3 * tx - q1 * tz),
        z + q0 * tz + (q1 * ty - q2 * tx),
    )


@njit(cache=True, inline="always")
def qrotvec(q0, q1, q2, q3):
    """Rotation vector (axis * angle, rad) of a unit quaternion, angle in [0, pi]."""
    if q0 < 0.0:
        q0, q1, q2, q3 = -q0, -q1, -q2, -q3
    s = math.sqrt(q1 * q1 + q2 * q2 + q3 * q3)
    if s < 1e-12:
        return 2.0 * q1, 2.0 * q2, 2.0 * q3
    k = 2.0 * math.atan2(s, q0) / s
    return k * q1, k * q2, k * q3


@njit(cache=True, inline="always")
def qexp(rx, ry, rz):
    """Unit quaternion of the rotation vector r (rad)."""
    angle = math.sqrt(rx * rx + ry * ry + rz * rz)
    if angle < 1e-12:
        n = math.sqrt(1.0 + 0.25 * angle * angle)
        return 1.0 / n, 0.5 * rx / n, 0.5 * ry / n, 0.5 * rz / n
    s = math.sin(0.5 * angle) / angle
    return math.cos(0.5 * angle), s * rx, s * ry, s * rz
