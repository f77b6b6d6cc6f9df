"""The live page of a stress test (``fab simulate --live``, ``fab run --live``).

The solver calls :meth:`SimulationLive.observe` from its progress callback (``fab.equilibrium.Progress``): the
residual goes into the history at every call (cheap), and a snapshot of the particles (deformed by the scale
slider, coloured by the chosen field) is sent when one is due: every ``interval`` seconds of wall clock, but
never so often that snapshots take more than ``budget`` of the run (:class:`fab.live.server.Throttle`). Bodies
above ``max_points`` particles are shown as a fixed random subsample. Only the field on show is computed.

Controls: pause (the solver waits inside its callback), resume, stop (the solve ends there; the results so
far are reported and written, and the run exits as not converged), and for a static test a load factor
(x the job's loads) that "Re-solve" applies from the current state; after the solve, while a browser is
connected, the page waits for another load factor or "Finish".
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from fab.live.server import INTERVAL, MAX_POINTS, Controls, LiveServer, Throttle, colours, subsample
from fab.live.stop import LiveStopped
from fab.model import MM
from fab.progress import stderr_console

# Displacement first: it costs nothing to show; von Mises needs the stress tensors (about 0.1 ms a particle
# on 2 cores), so while it is on show the snapshots come as often as the budget allows.
FIELDS = ("displacement (mm)", "von Mises (MPa)", "damage", "fragment")
STOPPED = "stopped from the live view"
RESOLVE = "re-solve at a new load factor from the live view"
HISTORY = 4000  # residual points kept (older ones thinned)
# Largest displacement drawn as this share of the part's size when the scale is automatic.
AUTO_SHARE = 0.05


def field_values(sim, name: str, index: np.ndarray | None) -> np.ndarray:
    """The ``name`` field (mm, MPa, 0..1, label) of the current state at the shown particles."""
    if name.startswith("displacement"):
        u = sim.u if index is None else sim.u[index]
        return np.linalg.norm(u, axis=1) / MM
    if name.startswith("damage"):
        d = sim.damage()
    elif name.startswith("fragment"):
        d = sim.fragments()[1]
    else:
        d = sim.von_mises() / 1e6
    return np.asarray(d if index is None else d[index])


class SimulationLive:
    """Observer of one stress test (see the module docstring)."""

    def __init__(
        self,
        server: LiveServer,
        *,
        interval: float = INTERVAL,
        max_points: int = MAX_POINTS,
        hold: bool = True,
        quiet: bool = False,
        heading: str = "",
    ) -> None:
        self.server = server
        self.quiet = quiet
        self.controls = Controls()
        self.throttle = Throttle(interval)
        self.max_points = max_points
        self.hold = hold
        self.frames = 0
        self.label = "starting"
        self.step = 0
        self.offset = 0  # iterations of the solves before this one (one history across re-solves)
        self.residuals: tuple[list[float], list[float]] = ([], [])
        self.curve: tuple[list[float], list[float]] = ([0.0], [0.0])
        self.factor = 1.0
        self._requested: float | None = None
        self._finish = threading.Event()
        self._dirty = False
        self._scale: float | None = None  # None: automatic
        self._auto: float | None = None  # the value the automatic scale last put on the slider
        self._note = ""  # shown under the status while it holds (e.g. waiting for the person)
        self.sim = None
        self._path = False  # a failure test's load path draws the curve (path_point)
        self.inner: dict | None = None  # where Newton is inside an iteration (its tick), None at the callback
        self._observed = False  # the solver's callback has reported once (a stop is reported under its label)
        gui = server.gui
        if heading:  # which stage of a longer run this test is (a part refinement's failure tests)
            gui.add_markdown(heading)
        # The controls come first: the status and the legend below them change length as the run goes, and a
        # button must not move under the mouse.
        with gui.add_folder("Controls"):
            self.pause_button = gui.add_button("Pause")
            self.resume_button = gui.add_button("Resume")
            self.stop_button = gui.add_button("Stop")
            self.load_factor = gui.add_number("load factor", initial_value=1.0, min=0.0, step=0.05)
            self.resolve_button = gui.add_button("Re-solve at this load factor")
            self.finish_button = gui.add_button("Finish")
        self.status = gui.add_markdown("**stress test**: building the particle body")
        with gui.add_folder("View"):
            self.field = gui.add_dropdown("colour by", FIELDS, initial_value=FIELDS[0])
            self.scale = gui.add_slider(
                "deformation x (log10)", min=0.0, max=5.0, step=0.1, initial_value=0.0
            )
            self.legend = gui.add_markdown("")
        self.residual_plot = gui.add_uplot(
            data=(np.zeros(1), np.ones(1)),
            series=({"label": "iteration"}, {"label": "residual", "stroke": "#d62728"}),
            scales={"x": {"time": False}, "y": {"distr": 3}},
            title="residual history (relative, log)",
            aspect=1.8,
        )
        self.curve_plot = gui.add_uplot(
            data=(np.zeros(1), np.zeros(1)),
            series=(
                {"label": "max displacement (mm)"},
                {"label": "support reaction (N)", "stroke": "#1f77b4", "points": {"size": 7}},
            ),
            scales={"x": {"time": False}},
            title="load vs displacement (one point a solve)",
            aspect=1.8,
        )
        self.pause_button.on_click(lambda _e: self._set(self.controls.pause))
        self.resume_button.on_click(lambda _e: self._set(self.controls.resume))
        self.stop_button.on_click(lambda _e: self._stop())
        self.finish_button.on_click(lambda _e: self._finish.set())
        self.resolve_button.on_click(lambda _e: self._resolve())
        self.field.on_update(lambda _e: self._mark_dirty())
        self.scale.on_update(lambda _e: self._scale_moved())

    # ---- the solver's side (its own thread) -------------------------------------------------------------------

    def attach(self, sim, model, loads, test: str) -> None:
        """The body is built: remember it and show its reference shape."""
        self.sim, self.model, self.loads, self.test = sim, model, loads, test
        self.index = subsample(model.body.count, self.max_points)
        pts = model.points_mm if self.index is None else model.points_mm[self.index]
        self.points = np.asarray(pts, dtype=np.float32)
        lo, hi = self.points.min(axis=0), self.points.max(axis=0)
        self.size = float(np.max(hi - lo) + model.pitch_mm)
        centre = (lo + hi) / 2
        self.server.viser.initial_camera.look_at = tuple(float(c) for c in centre)
        self.server.viser.initial_camera.position = tuple(
            float(c) for c in centre + np.array([0.9, -1.6, 1.1]) * self.size
        )
        self.server.viser.initial_camera.up = (0.0, 0.0, 1.0)
        self.cloud = self.server.scene.add_point_cloud(
            "/part",
            points=self.points,
            colors=np.full((len(self.points), 3), 180, np.uint8),
            point_size=0.9 * model.pitch_mm,
            precision="float32",
            point_shape="square",
        )
        if test != "static":  # a new load factor and Finish (after a solve) belong to static tests
            self.load_factor.disabled = True
            self.resolve_button.disabled = True
            self.finish_button.disabled = True
        if test == "impact":
            self.residual_plot.title = "kinetic energy (J, log) over the steps"
            self.residual_plot.series = ({"label": "step"}, {"label": "kinetic energy (J)", "stroke": "#d62728"})
        if test != "impact":
            # Newton's iterations can be seconds apart on a big body: its tick keeps the page live in between.
            # Built here (the solve would build it first thing), after the reference shape is on the page.
            from fab import equilibrium
            from physics import newton

            if equilibrium.NEWTON and newton.supports(sim):
                self.label = "building the Newton solver (its multigrid preconditioner)"
                self._snapshot(sim)  # the reference shape, redrawn by the tick while the solver is built
                newton.newton_for(sim, tick=self.tick)
                self.inner = None
                self.label = "starting"
                return
        self._snapshot(sim)

    def observe(self, sim, step: int, residual: float | None, label: str) -> str | None:
        self._observed = True
        if label != self.label:
            self.label = label
        self.step = step
        if residual is not None and np.isfinite(residual):  # Newton reports its start as inf
            self._add_residual(self.offset + step, residual)
        elif self.test == "impact":  # explicit dynamics: the energy history instead of a residual
            mass = np.asarray(sim.body.density) * sim.body.particle_volume
            self._add_residual(step, float(0.5 * np.sum(mass * np.sum(sim.v * sim.v, axis=1))))
        self.inner = None
        return self._steer(sim)

    def tick(self, where: dict) -> bool:
        """Newton's look inside a long iteration (``physics.newton.Newton.tick``, every 0.1 s at most): a snapshot
        when one is due, and pause and stop as at the callback. True asks the solve to stop at its iterate (its
        callback then reports why). Inside the solver's build (where["building"]), one evaluation of a very
        large body (where["within"]) or before the solver's first callback the page updates and pause holds it; a
        stop waits for the next look from outside (the first callback: a failure test's stop is reported under
        the stage it names)."""
        self.inner = where
        if where.get("building") or where.get("within") or not self._observed:
            self._steer(self.sim, building=True)
            return False
        return self._steer(self.sim) is not None

    def _steer(self, sim, building: bool = False) -> str | None:
        """Pause, stop, a new load factor, a snapshot when due; ``building``: inside the solver's build or one
        evaluation of the law (a stop or a new factor waits for the next look from outside)."""
        if self.controls.paused:
            self._snapshot(sim)
            self.controls.wait_while_paused(lambda: self._redraw_if_dirty(sim))
        if self.controls.stopped and not building:
            self._snapshot(sim)
            if self.test in ("failure", "shear"):  # many solves: the test ends as a whole (fab.stress reports)
                raise LiveStopped(self.label, self.offset + self.step)
            return STOPPED
        if self._requested is not None and self.test == "static" and not building:
            return RESOLVE
        if self._dirty or self.throttle.due():
            started = time.perf_counter()
            self._snapshot(sim)
            self.throttle.took(started)
        return None

    def settled(self, sim, label: str, converged: bool) -> None:
        self.offset += self.step
        self.step = 0
        if not self._path:
            reaction = np.zeros(3)
            for i in range(1, len(self.model.fixed) + 1):
                reaction += sim.reaction(f"fix{i}")
            disp = float(np.linalg.norm(sim.u, axis=1).max() / MM)
            self._plot_curve(disp, float(np.linalg.norm(reaction)))
        self.label = f"{label}: {'converged' if converged else 'stopped'}"
        self._snapshot(sim)

    def path_point(self, sim, w_mm: float, factor: float, force_n: float) -> None:
        """A converged point of a failure test's load path (``physics.newton.trace``): from the first one on, the
        curve is the path's own, the load (N, or the factor of a torque or displacement load) against the load's
        work-conjugate displacement w (mm), as the report's curve."""
        if not self._path:
            self._path = True
            self.curve = ([0.0], [0.0])  # unloaded
            load = "load (N)" if force_n > 0 else "load factor (x the job's loads)"
            self.curve_plot.series = (
                {"label": "load-point displacement w (mm)"},
                {"label": load, "stroke": "#1f77b4", "points": {"size": 7}},
            )
            self.curve_plot.title = "load path (one point a converged increment)"
        self.factor = factor
        self._plot_curve(w_mm, factor * force_n if force_n > 0 else factor)

    def _plot_curve(self, x: float, y: float) -> None:
        self.curve[0].append(float(x))
        self.curve[1].append(float(y))
        order = np.argsort(self.curve[0], kind="stable")
        self.curve_plot.data = (np.asarray(self.curve[0])[order], np.asarray(self.curve[1])[order])

    def next_load_factor(self, converged: bool) -> float | None:
        """After a static solve: the next load factor to solve for, or None to finish (see the module)."""
        if self.controls.stopped:
            return None
        if self._requested is None and self.hold and self.server.clients():
            self._note = (
                "solved: set a load factor and **Re-solve**, or **Finish** to write the results"
                if converged
                else "stopped short of equilibrium: **Re-solve** or **Finish**"
            )
            self._status()
            if not self.quiet:
                stderr_console.print(
                    "live view: solved; waiting for the page (Re-solve or Finish; Ctrl-C finishes too)",
                    highlight=False,
                )
            try:
                while not (self._finish.is_set() or self.controls.stopped or self._requested is not None):
                    if not self.server.clients():
                        break
                    self._redraw_if_dirty(self.sim)
                    time.sleep(0.1)
            except KeyboardInterrupt:  # at the terminal: finish and write the results
                self._finish.set()
            self._note = ""
        requested, self._requested = self._requested, None
        if requested is None or self._finish.is_set() or self.controls.stopped:
            return None
        self.factor = requested
        return requested

    # ---- drawing -------------------------------------------------------------------------------------------

    def _add_residual(self, step: float, residual: float) -> None:
        xs, ys = self.residuals
        xs.append(float(step))
        ys.append(max(float(residual), 1e-12))
        if len(xs) > HISTORY:  # keep every other point of the older half
            half = len(xs) // 2
            xs[:half], ys[:half] = xs[:half:2], ys[:half:2]

    def _redraw_if_dirty(self, sim) -> None:
        if self._dirty and sim is not None:
            self._snapshot(sim)

    def _snapshot(self, sim) -> None:
        self._dirty = False
        self.frames += 1
        name = self.field.value
        values = field_values(sim, name, self.index)
        u = (sim.u if self.index is None else sim.u[self.index]) / MM
        umax = float(np.linalg.norm(u, axis=1).max()) if len(u) else 0.0
        if self._scale is None and umax > 0:
            auto = float(np.clip(np.log10(max(AUTO_SHARE * self.size / umax, 1.0)), 0.0, 5.0))
            self._auto = round(auto, 1)
            self.scale.value = self._auto
        magnify = 10.0 ** float(self.scale.value)
        categorical = name.startswith("fragment")
        lo, hi = (0.0, 1.0) if name.startswith("damage") else (float(values.min()), float(values.max()))
        with self.server.viser.atomic():
            self.cloud.points = (self.points + magnify * u).astype(np.float32)
            self.cloud.colors = colours(values, lo, hi, categorical)
            if self.residuals[0]:
                self.residual_plot.data = (np.asarray(self.residuals[0]), np.asarray(self.residuals[1]))
            unit = name[name.find("(") + 1 : -1] if "(" in name else ""
            self.legend.content = (
                f"{int(values.max()) + 1} fragments"
                if categorical
                else f"{name}: **{lo:.4g}** (blue) to **{hi:.4g}** (red) {unit}; deformation x {magnify:.3g}"
            )
            self._status()

    def _status(self) -> None:
        state = "stopped" if self.controls.stopped else "paused" if self.controls.paused else "running"
        shown = len(self.points) if self.sim is not None else 0
        total = self.model.body.count if self.sim is not None else 0
        quantity = "kinetic energy" if self.sim is not None and self.test == "impact" else "residual"
        unit = " J" if quantity == "kinetic energy" else ""
        residual = f", {quantity} {self.residuals[1][-1]:.2e}{unit}" if self.residuals[1] else ""
        inner = self.inner
        within = (
            ""
            if inner is None
            else "  \nbuilding the solver's preconditioner (multigrid levels, eigenvalue estimates)"
            if inner.get("building")
            else "  \nthe next iteration under way: "
            + (f"linear solve step {inner['krylov']}, " if inner["krylov"] else "")
            + f"{inner['evaluations']:,} evaluations of the law so far"
        )
        text = (
            f"**{self.test if self.sim is not None else 'stress'} test** ({state}): {self.label}, "
            f"iteration {self.offset + self.step:,}{residual}, load factor {self.factor:g}{within}  \n"
            f"frame **{self.frames}**: **{shown:,}** particles shown of {total:,}; "
            f"a snapshot every {self._period():.2g} s"
        )
        if self._note:
            text += f"  \n{self._note}"
        self.status.content = text

    def _period(self) -> float:
        """Seconds between snapshots now (the interval, or longer when snapshots are costly)."""
        t = self.throttle
        mean = t.spent / t.count if t.count else 0.0
        return max(t.interval, mean / t.budget)

    # ---- the person's side (viser's threads) ----------------------------------------------------------------

    def _set(self, action) -> None:
        action()
        self._mark_dirty()

    def _stop(self) -> None:
        self.controls.stop()
        self._finish.set()
        self._mark_dirty()

    def _resolve(self) -> None:
        value = float(self.load_factor.value)
        if value > 0:
            self._requested = value

    def _scale_moved(self) -> None:
        if self._auto is not None and abs(float(self.scale.value) - self._auto) < 1e-9:
            return  # our own automatic setting coming back, not the person's choice
        self._scale = float(self.scale.value)
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        self._dirty = True


def open_simulation_view(live_options: Any, title: str, quiet: bool) -> tuple[LiveServer, SimulationLive]:
    """Start the server and the page of a stress test (the CLI's ``--live``)."""
    server = LiveServer(
        title, host=live_options.host, port=live_options.port, token=live_options.token, quiet=quiet
    )
    return server, SimulationLive(server, quiet=quiet)
