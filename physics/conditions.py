"""Boundary conditions and loads on named point sets.

Each condition may act at three moments of a step: ``prescribe`` (after the drift: impose displacement or
velocity), ``load`` (after the force law: add external force density, N/m^3) and ``free_mask`` (which particles
the integrator must not move). Units: SI; forces given as a TOTAL in N are spread evenly over the set's volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from physics.errors import PhysicsError


def ramp(t: float, ramp_time: float) -> float:
    """Smooth 0 -> 1 over ``ramp_time`` seconds (1 immediately when ramp_time is 0)."""
    if ramp_time <= 0 or t >= ramp_time:
        return 1.0
    x = t / ramp_time
    return x * x * (3.0 - 2.0 * x)


def _vector(value, what: str) -> np.ndarray:
    vec = np.asarray(value, dtype=np.float64).reshape(-1)
    if vec.shape != (3,) or not np.isfinite(vec).all():
        raise PhysicsError(f"{what} must be 3 finite numbers, got {value!r}")
    return vec


@dataclass
class Condition:
    where: str | np.ndarray

    def bind(self, sim) -> None:
        self.idx = sim.body.indices(self.where)

    def held(self) -> np.ndarray | None:
        """Particles whose motion this condition dictates (the integrator leaves them alone)."""
        return None

    def prescribe(self, sim, t: float) -> None:
        pass

    def load(self, sim, t: float) -> None:
        pass


def _hold_rotation(sim, idx: np.ndarray) -> None:
    """Particles with orientation (6-DOF laws) held by a support keep their initial orientation (a clamp)."""
    if getattr(sim, "rotational", False):
        sim.q[idx] = (1.0, 0.0, 0.0, 0.0)
        sim.w[idx] = 0.0


@dataclass
class Gravity(Condition):
    """Weight of every particle: force density rho g (N/m^3), ``g`` in m/s^2 (default 9.81 down -z), ramped
    over ``ramp_time`` s. ``where`` defaults to every particle; ``density`` (kg/m^3, one per particle of the set)
    overrides the body's (parts of different masses on one lattice)."""

    where: str | np.ndarray = "all"
    g: tuple = (0.0, 0.0, -9.81)
    ramp_time: float = 0.0
    density: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.vec = _vector(self.g, "gravity")

    def bind(self, sim) -> None:
        everyone = isinstance(self.where, str) and self.where == "all"
        self.idx = slice(None) if everyone else sim.body.indices(self.where)
        if self.density is None:
            self.weight = sim.body.density * self.vec
        else:
            rho = np.asarray(self.density, dtype=np.float64).reshape(-1, 1)
            count = sim.body.count if everyone else len(self.idx)
            if rho.shape[0] != count or not np.all(rho > 0):
                raise PhysicsError(f"gravity density must be {count} positive values (kg/m^3)")
            self.weight = rho * self.vec

    def load(self, sim, t: float) -> None:
        sim.force[self.idx] += self.weight * ramp(t, self.ramp_time)


@dataclass
class Fixed(Condition):
    """Zero displacement and velocity."""

    def held(self) -> np.ndarray:
        return self.idx

    def prescribe(self, sim, t: float) -> None:
        sim.u[self.idx] = 0.0
        sim.v[self.idx] = 0.0
        _hold_rotation(sim, self.idx)


@dataclass
class Displacement(Condition):
    """Prescribed displacement (m), ramped smoothly over ``ramp_time`` s."""

    value: tuple = (0.0, 0.0, 0.0)
    ramp_time: float = 0.0

    def __post_init__(self) -> None:
        self.vec = _vector(self.value, "displacement")

    def held(self) -> np.ndarray:
        return self.idx

    def prescribe(self, sim, t: float) -> None:
        sim.u[self.idx] = self.vec * ramp(t, self.ramp_time)
        sim.v[self.idx] = 0.0
        _hold_rotation(sim, self.idx)


@dataclass
class Velocity(Condition):
    """Prescribed velocity (m/s), ramped over ``ramp_time`` s; the displacement integrates it."""

    value: tuple = (0.0, 0.0, 0.0)
    ramp_time: float = 0.0

    def __post_init__(self) -> None:
        self.vec = _vector(self.value, "velocity")
        self.travelled = np.zeros(3)

    def held(self) -> np.ndarray:
        return self.idx

    def prescribe(self, sim, t: float) -> None:
        velocity = self.vec * ramp(t, self.ramp_time)
        self.travelled += velocity * sim.dt
        sim.u[self.idx] = self.travelled
        sim.v[self.idx] = velocity
        _hold_rotation(sim, self.idx)


@dataclass
class Force(Condition):
    """A total force (N) spread evenly over the set, ramped over ``ramp_time`` s."""

    value: tuple = (0.0, 0.0, 0.0)
    ramp_time: float = 0.0

    def __post_init__(self) -> None:
        self.vec = _vector(self.value, "force")

    def bind(self, sim) -> None:
        super().bind(sim)
        self.density = self.vec / (len(self.idx) * sim.body.particle_volume)  # N/m^3

    def load(self, sim, t: float) -> None:
        sim.force[self.idx] += self.density * ramp(t, self.ramp_time)


@dataclass
class SphereIndenter(Condition):
    """A rigid sphere moving at constant velocity; force density K (R - r)^2 pushes particles out of it.

    This is LAMMPS's ``fix indent ... sphere`` as used with peridynamics (K in N/m^3 per m^2 of overlap).
    ``reaction`` holds the total force (N) the particles exert on the sphere after each step.
    """

    where: str | np.ndarray = "all"
    center: tuple = (0.0, 0.0, 0.0)
    radius: float = 1e-3
    stiffness: float = 1e17
    velocity: tuple = (0.0, 0.0, 0.0)
    reaction: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def bind(self, sim) -> None:
        self.idx, self._corner, self._shape = _indenter_frame(sim, self.where)
        self.c0 = _vector(self.center, "indenter centre")
        self.vel = _vector(self.velocity, "indenter velocity")
        if not self.radius > 0:
            raise PhysicsError(f"indenter radius must be positive, got {self.radius}")

    def centre_at(self, t: float) -> np.ndarray:
        # Relaxation evaluates loads at t = inf (ramps complete): a moving indenter then stays where it starts.
        return self.c0 + self.vel * t if np.isfinite(t) else self.c0

    def load(self, sim, t: float) -> None:
        lat = sim.body.lattice
        self.reaction = sphere_push(
            self.idx, lat.cells, self._shape, self._corner, lat.spacing, sim.u, self.centre_at(t), self.radius,
            self.stiffness, sim.force,
        ) * (-sim.body.particle_volume)  # fmt: skip


def _indenter_frame(sim, where) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(particles it acts on, position of padded cell (0, 0, 0), padded shape) for the indenter kernels, which
    rebuild reference positions from the cells. An empty index array stands for every particle (no n-long
    index array held)."""
    everyone = isinstance(where, str) and where == "all"
    idx = np.zeros(0, dtype=np.int64) if everyone else sim.body.indices(where)
    lat = sim.body.lattice
    pads = np.array([lat.pad, lat.pad, lat.pad if lat.dimension == 3 else 0])
    return idx, lat.origin - pads * lat.spacing, np.array(lat.padded_shape, dtype=np.int64)


@njit(cache=True)
def sphere_push(idx, cells, shape, corner, spacing, u, centre, radius, stiffness, force) -> np.ndarray:
    """Add K (R - r)^2 (outward) to the force density of particles inside the sphere; return the sum added.

    ``idx``: the particles it acts on (empty: all). Reference positions come from the padded-grid cells."""
    total = np.zeros(3)
    everyone = idx.shape[0] == 0
    count = cells.shape[0] if everyone else idx.shape[0]
    plane = shape[1] * shape[2]
    for k in range(count):
        i = k if everyone else idx[k]
        c = cells[i]
        dx = corner[0] + (c // plane) * spacing + u[i, 0] - centre[0]
        dy = corner[1] + ((c // shape[2]) % shape[1]) * spacing + u[i, 1] - centre[1]
        dz = corner[2] + (c % shape[2]) * spacing + u[i, 2] - centre[2]
        r = np.sqrt(dx * dx + dy * dy + dz * dz)
        if r < radius:
            fmag = stiffness * (radius - r) ** 2 / max(r, 1e-30)
            force[i, 0] += dx * fmag
            force[i, 1] += dy * fmag
            force[i, 2] += dz * fmag
            total[0] += dx * fmag
            total[1] += dy * fmag
            total[2] += dz * fmag
    return total


@dataclass
class PlaneIndenter(Condition):
    """A rigid plane through ``point`` (m) moving at ``velocity`` (m/s); ``normal`` points from the indenter into
    the space the particles may occupy. A particle at signed distance h = (x - p(t)).n < 0 behind the plane gets
    the force density K h^2 along n (LAMMPS's ``fix indent ... plane`` law, K in N/m^3 per m^2 of penetration).
    ``reaction`` holds the total force (N) the particles exert on the plane after each step.
    """

    where: str | np.ndarray = "all"
    point: tuple = (0.0, 0.0, 0.0)
    normal: tuple = (0.0, 0.0, 1.0)
    stiffness: float = 1e17
    velocity: tuple = (0.0, 0.0, 0.0)
    reaction: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def bind(self, sim) -> None:
        self.idx, self._corner, self._shape = _indenter_frame(sim, self.where)
        self.p0 = _vector(self.point, "indenter point")
        self.n = _axis(self.normal)
        self.vel = _vector(self.velocity, "indenter velocity")
        if not self.stiffness > 0:
            raise PhysicsError(f"indenter stiffness must be positive, got {self.stiffness}")

    def point_at(self, t: float) -> np.ndarray:
        # t = inf: relaxation (see SphereIndenter.centre_at).
        return self.p0 + self.vel * t if np.isfinite(t) else self.p0

    def load(self, sim, t: float) -> None:
        lat = sim.body.lattice
        self.reaction = plane_push(
            self.idx, lat.cells, self._shape, self._corner, lat.spacing, sim.u, self.point_at(t), self.n,
            self.stiffness, sim.force,
        ) * (-sim.body.particle_volume)  # fmt: skip


@njit(cache=True)
def plane_push(idx, cells, shape, corner, spacing, u, point, normal, stiffness, force) -> np.ndarray:
    """Add K h^2 n to the force density of particles behind the plane (h < 0); return the sum added."""
    total = np.zeros(3)
    everyone = idx.shape[0] == 0
    count = cells.shape[0] if everyone else idx.shape[0]
    plane = shape[1] * shape[2]
    for k in range(count):
        i = k if everyone else idx[k]
        c = cells[i]
        h = (
            (corner[0] + (c // plane) * spacing + u[i, 0] - point[0]) * normal[0]
            + (corner[1] + ((c // shape[2]) % shape[1]) * spacing + u[i, 1] - point[1]) * normal[1]
            + (corner[2] + (c % shape[2]) * spacing + u[i, 2] - point[2]) * normal[2]
        )
        if h < 0.0:
            fmag = stiffness * h * h
            for a in range(3):
                force[i, a] += fmag * normal[a]
                total[a] += fmag * normal[a]
    return total


def _axis(axis) -> np.ndarray:
    a = _vector(axis, "axis")
    norm = np.linalg.norm(a)
    if norm == 0:
        raise PhysicsError("axis must be a non-zero vector")
    return a / norm


@dataclass
class Torque(Condition):
    """A total torque (N m) about the axis through ``point`` (m), spread over the set, ramped over ``ramp_time``.

    Force density f_i = T (a x r_i) / sum_k |a x r_k|^2 V: it sums to zero force and exactly T about the axis
    (reference positions; small rotations).
    """

    torque: float = 0.0
    point: tuple = (0.0, 0.0, 0.0)
    axis: tuple = (0.0, 0.0, 1.0)
    ramp_time: float = 0.0

    def bind(self, sim) -> None:
        super().bind(sim)
        a = _axis(self.axis)
        r = sim.x0[self.idx] - _vector(self.point, "torque point")
        r -= np.outer(r @ a, a)
        lever = np.cross(a, r)
        inertia = float((lever * lever).sum()) * sim.body.particle_volume
        if inertia == 0:
            raise PhysicsError("torque set lies on its axis: no lever arm")
        self.density = self.torque * lever / inertia  # N/m^3

    def load(self, sim, t: float) -> None:
        sim.force[self.idx] += self.density * ramp(t, self.ramp_time)


@dataclass
class Rotation(Condition):
    """Rigid rotation of a set (a hub): angle(t) = angular_velocity * t (rad/s), or a fixed ``angle`` (rad)
    ramped over ``ramp_time``, about the axis through ``point`` (m)."""

    angular_velocity: float = 0.0
    angle: float | None = None
    point: tuple = (0.0, 0.0, 0.0)
    axis: tuple = (0.0, 0.0, 1.0)
    ramp_time: float = 0.0

    def bind(self, sim) -> None:
        super().bind(sim)
        self.a = _axis(self.axis)
        self.p = _vector(self.point, "rotation point")
        self.r = sim.x0[self.idx] - self.p

    def held(self) -> np.ndarray:
        return self.idx

    def theta(self, t: float) -> float:
        if self.angle is not None:
            return self.angle * ramp(t, self.ramp_time)
        return self.angular_velocity * t

    def prescribe(self, sim, t: float) -> None:
        th = self.theta(t)
        a, r = self.a, self.r
        # Rodrigues: R r = r cos + (a x r) sin + a (a.r)(1 - cos)
        rot = r * np.cos(th) + np.cross(a, r) * np.sin(th) + np.outer(r @ a, a) * (1.0 - np.cos(th))
        sim.u[self.idx] = rot - r
        omega = 0.0 if self.angle is not None else self.angular_velocity
        sim.v[self.idx] = omega * np.cross(a, rot)
        if getattr(sim, "rotational", False):  # particles with orientation turn with the hub
            sim.q[self.idx] = (np.cos(0.5 * th), *(np.sin(0.5 * th) * a))
            sim.w[self.idx] = omega * a
