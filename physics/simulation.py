"""A simulation: a body, a force law, conditions on point sets, and a time solver.

    body = Body.from_occupancy(occupancy, spacing=0.5e-3, density=1240.0)
    body.point_set("left", lambda x: x[:, 0] < 1e-3)
    sim = Simulation(body, PMB(youngs_modulus=3.5e9, fracture_energy=8000.0), [Fixed("left"), ...])
    result = sim.run(steps=2000)
    result.displacement, result.damage ...

Laws with ``rotational = True`` (the voxel-joint law) add orientations to the state: ``q`` (n, 4) unit
quaternions [w, x, y, z], ``w`` (n, 3) angular velocities (rad/s, world frame) and ``torque`` (n, 3) torque
densities (N m/m^3) beside ``force``; the law gives the rotational inertia (``law.inertia``, kg m^2 per particle,
isotropic) and its own static solver (``law.relax``). Other laws never see them.

Precision: the bond kernels compute in float32 (displacement grids, tables, sums; positions, velocities and the
integration stay float64). ``Simulation(..., precision="float64")`` compiles and runs them in float64 (laws that
list it in ``precisions``: PMB, LPS) for what float32 cannot resolve: static residuals below about 1e-4 of the bond
forces, comparisons with double-precision codes. It costs about twice the memory traffic per bond evaluation
(the first use also compiles the float64 kernels once; they are cached like the float32 ones).

Units: SI. The run stops with a PhysicsError naming the step when displacements turn NaN or the kinetic energy
blows up, and suggests the fix.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from physics import analysis, integrators, relaxation
from physics.errors import PhysicsError
from physics.laws.base import grid_dtype


@dataclass
class Result:
    """What a run leaves behind (SI units, arrays per particle)."""

    positions: np.ndarray
    displacement: np.ndarray
    velocity: np.ndarray
    damage: np.ndarray
    broken_bonds: int
    bonds: int
    steps: int
    time: float
    dt: float
    seconds: float
    history: dict[str, list] = field(default_factory=dict)

    @property
    def mean_damage(self) -> float:
        return float(self.damage.mean())

    @property
    def max_displacement(self) -> float:
        return float(np.linalg.norm(self.displacement, axis=1).max())


class Simulation:
    """Explicit dynamics of one body under a force law and conditions."""

    def __init__(
        self, body, law, conditions: Sequence = (), *, damping: float = 0.0, precision: str | None = None
    ) -> None:
        self.body = body
        self.law = law
        if precision is not None:
            law.use_precision(precision)  # before setup: the law's tables are made in this type
        real = grid_dtype(law)
        self.conditions = list(conditions)
        self.damping = float(damping)
        n = body.count
        lat = body.lattice
        self.u = np.zeros((n, 3))
        self.v = np.zeros((n, 3))
        self.force = np.zeros((n, 3))
        # Force density (N/m^3) from the bonds alone, before loads, in the bond kernels' type: float32 loses
        # nothing there (they sum in float32, and memory per particle is a target); float64 on the float64 path.
        self.internal = np.zeros((n, 3), dtype=real)
        ncells = int(np.prod(lat.padded_shape))
        self.ux = np.zeros(ncells, dtype=real)
        self.uy = np.zeros(ncells, dtype=real)
        self.uz = np.zeros(ncells, dtype=real)
        self.min_stretch = np.zeros(n, dtype=real)
        self.newly_broken = np.zeros(n, dtype=np.int32)
        self.rotational = bool(getattr(law, "rotational", False))
        if self.rotational:
            self.q = np.zeros((n, 4))
            self.q[:, 0] = 1.0
            self.w = np.zeros((n, 3))
            self.torque = np.zeros((n, 3))
        law.setup(body)
        self.bits = law.initial_bonds(body)
        self.initial_bond_count = self._bond_counts()
        self.free = np.ones(n, dtype=np.bool_)
        for cond in self.conditions:
            cond.bind(self)
            held = cond.held()
            if held is not None:
                self.free[held] = False
        self._has_held = any(c.held() is not None for c in self.conditions)
        self.t = 0.0
        self.step = 0
        self.dt = 0.0

    def set_precision(self, precision: str) -> None:
        """Switch the bond kernels' float type now, keeping the state: e.g. a float32 solve finished in float64
        (its last iterations and the residual and balance tests), where float32 stops resolving the residual.

        The law's tables keep their values (the same model, evaluated in the new type; a law shared with another
        simulation switches for it too). Solvers built on the old type's buffers (multigrid, Newton) are dropped
        and rebuilt on their next use."""
        self.law.to_precision(precision)
        real = grid_dtype(self.law)
        if self.ux.dtype == real:
            return
        self.internal = self.internal.astype(real)
        self.ux, self.uy, self.uz = (np.zeros_like(g, dtype=real) for g in (self.ux, self.uy, self.uz))
        self.min_stretch = self.min_stretch.astype(real)
        integrators.to_grid(self.u, self.body.lattice.cells, self.ux, self.uy, self.uz)
        for module in ("physics.multigrid", "physics.newton"):
            solvers = getattr(sys.modules.get(module), "_SOLVERS", None)
            if solvers is not None:
                solvers.pop(self, None)

    # ---- bookkeeping --------------------------------------------------------------------------------
    @property
    def x0(self) -> np.ndarray:
        """(n, 3) reference positions in m (computed when asked for, not held)."""
        return self.body.positions()

    def _bond_counts(self) -> np.ndarray:
        return np.bitwise_count(self.bits).sum(axis=0, dtype=np.int16)

    def damage(self) -> np.ndarray:
        """Broken fraction of each particle's bonds (0 intact, 1 fully detached)."""
        initial = np.maximum(self.initial_bond_count, 1)
        return 1.0 - self._bond_counts() / initial

    def stable_time_step(self, safety: float = 0.8) -> float:
        return safety * self.law.stable_time_step(self.body)

    # ---- time stepping --------------------------------------------------------------------------------
    def run(
        self,
        steps: int,
        dt: float | None = None,
        *,
        safety: float = 0.8,
        check_every: int = 50,
        history_every: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> Result:
        """Advance ``steps`` velocity-Verlet steps of ``dt`` s (default: ``safety`` x the stable step)."""
        if steps < 0:
            raise PhysicsError(f"steps must be >= 0, got {steps}")
        self.dt = float(dt) if dt is not None else self.stable_time_step(safety)
        if not (self.dt > 0 and np.isfinite(self.dt)):
            raise PhysicsError(f"time step must be positive, got {self.dt}")
        inv_rho = 1.0 / self.body.density
        cells = self.body.lattice.cells
        history: dict[str, list] = {"step": [], "time": [], "kinetic_energy": [], "broken_bonds": []}
        mass = self.body.density * self.body.particle_volume
        start = time.perf_counter()
        # Unstable explicit steps grow velocities exponentially: flag any particle faster than 20 wave speeds
        # (c0 ~ 0.87 dx / stable dt), far beyond anything a physical impact or fracture produces.
        wave = 0.87 * self.body.lattice.spacing / self.law.stable_time_step(self.body)
        speed_limit2 = (20.0 * wave) ** 2
        if self.step == 0:
            self._forces()
        # torque density / (inertia / volume) = angular acceleration
        inv_inertia = self.body.particle_volume / self.law.inertia if self.rotational else 0.0
        for _ in range(steps):
            integrators.kick_drift(
                self.u, self.v, self.force, inv_rho, self.dt, self.free, cells, self.ux, self.uy, self.uz
            )
            if self.rotational:
                # torque density over inertia density = torque over inertia
                integrators.rotate_drift(self.q, self.w, self.torque, inv_inertia, self.dt, self.free)
            self.step += 1
            self.t += self.dt
            self._forces()
            integrators.kick(self.v, self.force, inv_rho, self.dt, self.free, self.damping)
            if self.rotational:
                integrators.rotate_kick(self.w, self.torque, inv_inertia, self.dt, self.free, self.damping)
            if self.step % check_every == 0 or history_every and self.step % history_every == 0:
                energy = integrators.kinetic_energy(self.v, mass)
                self._guard(energy, speed_limit2)
                if history_every and self.step % history_every == 0:
                    history["step"].append(self.step)
                    history["time"].append(self.t)
                    history["kinetic_energy"].append(energy)
                    history["broken_bonds"].append(
                        int(self.initial_bond_count.sum() - self._bond_counts().sum())
                    )
            if progress is not None:
                progress(self.step, steps)
        seconds = time.perf_counter() - start
        if not np.isfinite(self.u).all():
            self._guard(float("nan"), speed_limit2)
        total = int(self.initial_bond_count.sum())
        return Result(
            positions=self.x0 + self.u,
            displacement=self.u.copy(),
            velocity=self.v.copy(),
            damage=self.damage(),
            broken_bonds=(total - int(self._bond_counts().sum())) // 2,
            bonds=total // 2,
            steps=self.step,
            time=self.t,
            dt=self.dt,
            seconds=seconds,
            history=history,
        )

    def relax(
        self,
        max_steps: int = 20000,
        tolerance: float = 2e-3,
        callback: Callable[[int, float], bool] | None = None,
    ) -> Result:
        """Quasi-static solution by adaptive dynamic relaxation (loads at full value); see physics.relaxation.

        ``callback(iteration, residual) -> stop`` runs every few iterations (progress, extra stopping tests).
        """
        start = time.perf_counter()
        info = relaxation.relax(self, max_steps, tolerance, callback=callback)
        total = int(self.initial_bond_count.sum())
        return Result(
            positions=self.x0 + self.u,
            displacement=self.u.copy(),
            velocity=self.v.copy(),
            damage=self.damage(),
            broken_bonds=(total - int(self._bond_counts().sum())) // 2,
            bonds=total // 2,
            steps=info["steps"],
            time=self.t,
            dt=0.0,
            seconds=time.perf_counter() - start,
            history={
                "residual": [info["residual"]],
                "converged": [info["converged"]],
                "stopped": [info["stopped"]],
            },
        )

    # ---- outputs ----------------------------------------------------------------------------------------
    def reaction(self, where) -> np.ndarray:
        """Total force (N) the support/driver of set ``where`` exerts on the body."""
        return analysis.reaction(self, where)

    def fragments(self) -> tuple[int, np.ndarray]:
        """(count, label per particle): connected components of intact bonds."""
        return analysis.fragments(self)

    def strain_energy_density(self) -> np.ndarray:
        """(n,) J/m^3."""
        return analysis.strain_energy_density(self)

    def max_bond_stretch(self) -> np.ndarray:
        """(n,) largest stretch of each particle's intact bonds (dimensionless)."""
        return analysis.max_bond_stretch(self)

    def stress(self) -> np.ndarray:
        """(n, 3, 3) virial stress, Pa."""
        return analysis.stress(self)

    def von_mises(self) -> np.ndarray:
        """(n,) von Mises stress, Pa."""
        return analysis.von_mises(self.stress())

    def _forces(self) -> None:
        for cond in self.conditions:
            cond.prescribe(self, self.t)
        if self.step == 0 or self._has_held:
            integrators.to_grid(self.u, self.body.lattice.cells, self.ux, self.uy, self.uz)
        self.law.compute(self)
        self.internal[:] = self.force
        for cond in self.conditions:
            cond.load(self, self.t)

    def _guard(self, energy: float, speed_limit2: float) -> None:
        """Stop with a PhysicsError on NaN or on any particle speed^2 above ``speed_limit2`` (m^2/s^2)."""
        blown = not np.isfinite(energy) or not np.isfinite(self.u).all()
        if not blown:
            blown = float((self.v * self.v).sum(axis=1).max()) > speed_limit2
        if blown:
            raise PhysicsError(
                f"the simulation became unstable at step {self.step} (t = {self.t:.4g} s): displacements or "
                f"energy blew up; use a smaller time step (safety factor < 0.8, now dt = {self.dt:.3g} s) or "
                "smaller loading rates"
            )
