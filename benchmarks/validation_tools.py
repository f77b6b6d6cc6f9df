"""Helpers for the validation cases of the particle engine: pre-cracks, a torque load, measurements, table.

Everything here works on the public objects of ``physics`` (Body, Simulation) and plain arrays. SI units
(metres, Pa, N, s) as in the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def cut_bonds(sim, start: tuple[float, float], end: tuple[float, float]) -> int:
    """Break every bond whose segment crosses the line segment start-end (x, y in m): a zero-width pre-crack.

    Works on the x-y projection, so in 2D it is exact. Returns the number of (directed) bonds cut. The
    simulation's damage counts these bonds as broken.
    """
    lat = sim.body.lattice
    x = sim.x0[:, :2]
    xi = lat.stencil[:, :2] * lat.spacing
    nb = lat.neighbours()
    p, q = np.asarray(start, float), np.asarray(end, float)
    a = x[:, None, :]
    b = x[:, None, :] + xi[None, :, :]

    def orient(o, s, t):
        return (s[..., 0] - o[..., 0]) * (t[..., 1] - o[..., 1]) - (s[..., 1] - o[..., 1]) * (
            t[..., 0] - o[..., 0]
        )

    d1 = orient(p, q, a)
    d2 = orient(p, q, b)
    d3 = orient(a, b, np.broadcast_to(p, a.shape))
    d4 = orient(a, b, np.broadcast_to(q, b.shape))
    cross = (d1 * d2 < 0) & (d3 * d4 < 0) & (nb >= 0)
    # A bond through an end point of the segment (a crack tip between lattice rows lies on the diagonal bonds
    # through it) crosses by round-off from one end and not from the other; cut only what both ends see cross, so
    # the two ends of a bond agree (the pair kernels read one end's bit for both: a bond cut at one end was
    # intact for them and half broken for the whole-stencil kernels).
    stencil = lat.stencil
    opposite = np.array([np.flatnonzero((stencil == -k).all(axis=1))[0] for k in stencil])
    i, b = np.nonzero(cross)
    cross[i, b] = cross[nb[i, b], opposite[b]]
    rows, cols = np.nonzero(cross)
    for word in range(sim.bits.shape[0]):
        sel = (cols >> 5) == word
        mask = np.zeros(sim.bits.shape[1], dtype=np.uint32)
        np.bitwise_or.at(mask, rows[sel], np.left_shift(np.uint32(1), (cols[sel] & 31).astype(np.uint32)))
        sim.bits[word] &= ~mask
    return int(cross.sum())


@dataclass
class TorqueLoad:
    """A torque (N m) about an axis through ``centre`` along ``axis``, applied as tangential forces on a set.

    Each particle's force is proportional to its distance from the axis (the tau = T r / J shear flow of a
    round shaft), so the forces sum to zero and their moment is exactly ``torque``. Ramped smoothly over
    ``ramp_time`` s. Duck-types the engine's condition protocol (bind / held / prescribe / load).
    """

    where: str
    torque: float
    centre: tuple[float, float, float]
    axis: int = 0
    ramp_time: float = 0.0

    def bind(self, sim) -> None:
        self.idx = sim.body.indices(self.where)
        r = sim.x0[self.idx] - np.asarray(self.centre, float)
        r[:, self.axis] = 0.0
        e = np.zeros(3)
        e[self.axis] = 1.0
        tangent = np.cross(e, r)  # |tangent| = distance from the axis
        r2 = (r * r).sum()
        self.density = tangent * (self.torque / r2) / sim.body.particle_volume  # N/m^3

    def held(self):
        return None

    def prescribe(self, sim, t: float) -> None:
        pass

    def load(self, sim, t: float) -> None:
        s = 1.0
        if self.ramp_time > 0 and t < self.ramp_time:
            z = t / self.ramp_time
            s = z * z * (3.0 - 2.0 * z)
        sim.force[self.idx] += self.density * s


def smoothstep(t: float, ramp_time: float) -> float:
    """The engine's ramp: smooth 0 -> 1 over ramp_time."""
    if ramp_time <= 0 or t >= ramp_time:
        return 1.0
    z = t / ramp_time
    return z * z * (3.0 - 2.0 * z)


def section_twist(x0: np.ndarray, u: np.ndarray, idx: np.ndarray, centre: np.ndarray, axis: int = 0) -> float:
    """Least-squares rigid rotation (rad) about ``axis`` of the particles ``idx``: sum (r x u).e / sum r^2."""
    r = x0[idx] - centre
    r[:, axis] = 0.0
    e = np.zeros(3)
    e[axis] = 1.0
    return float((np.cross(r, u[idx]) @ e).sum() / (r * r).sum())


def crossing_time(t: np.ndarray, signal: np.ndarray, level: float) -> float:
    """First time the signal rises through ``level`` (linear interpolation); nan if it never does."""
    above = np.flatnonzero(signal >= level)
    if len(above) == 0:
        return float("nan")
    k = above[0]
    if k == 0:
        return float(t[0])
    s0, s1 = signal[k - 1], signal[k]
    return float(t[k - 1] + (level - s0) / (s1 - s0) * (t[k] - t[k - 1]))


def rayleigh_speed(youngs_modulus: float, density: float, poisson: float) -> float:
    """c_R ~ c_s (0.862 + 1.14 nu) / (1 + nu) (Viktorov's approximation)."""
    shear = youngs_modulus / (2.0 * (1.0 + poisson))
    return math.sqrt(shear / density) * (0.862 + 1.14 * poisson) / (1.0 + poisson)


def heywood_kt(d: float, w: float) -> float:
    """Net-section stress concentration of a central hole in a finite-width strip: 2 + (1 - d/W)^3."""
    return 2.0 + (1.0 - d / w) ** 3


def griffith_stress(youngs_modulus: float, fracture_energy: float, half_length: float) -> float:
    """Critical remote stress of a centre crack 2a in an infinite plate, plane stress: sqrt(E G0 / (pi a))."""
    return math.sqrt(youngs_modulus * fracture_energy / (math.pi * half_length))


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """A GitHub markdown table from dict rows; columns are (key, header)."""
    head = "| " + " | ".join(h for _, h in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(str(row.get(k, "")) for k, _ in columns) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def crack_path_angle(
    pos: np.ndarray,
    grown: np.ndarray,
    tip: tuple[float, float],
    side: int,
    spacing: float,
    near: float,
    far: float,
) -> float:
    """Angle (degrees) between +x and a crack that leaves ``tip`` towards ``side`` (+1: +y, -1: -y).

    ``grown`` flags the cracked particles (x, y in ``pos``). Each particle row at a distance ``near``..``far``
    (m) from the tip in y contributes the mean x of its first run of cracked particles from the tip's side
    (later runs are other cracks: branches, back-face cracks); a straight line x(y) fitted through these
    points gives the angle. nan when fewer than three rows hold a crack.
    """
    x, y = pos[:, 0], pos[:, 1]
    dist = side * (y - tip[1])
    rows = np.unique(np.round(y[grown & (dist >= near) & (dist <= far)] / spacing).astype(np.int64))
    ys, xs = [], []
    for r in rows:
        on = grown & (np.abs(y - r * spacing) < 0.25 * spacing) & (x >= tip[0] - 2 * spacing)
        if not on.any():
            continue
        xr = np.sort(x[on])
        gaps = np.flatnonzero(np.diff(xr) > 1.5 * spacing)
        run = xr[: gaps[0] + 1] if len(gaps) else xr
        ys.append(side * (r * spacing - tip[1]))
        xs.append(run.mean())
    if len(ys) < 3:
        return float("nan")
    slope = float(np.polyfit(ys, xs, 1)[0])  # dx/dy along the crack
    return math.degrees(math.atan2(1.0, slope))
