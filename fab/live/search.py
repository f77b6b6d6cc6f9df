"""The live page of a design search (``fab morph --live``): watch it, steer it, grow or shrink its workers.

It plugs into :func:`fab.morph.search.run_search` as its ``steering``: after each generation the page shows
the best design, the convergence plot, the Pareto front and the ranking; any evaluated design can be picked
to inspect (score terms, objectives, guards, picture), vetoed (it leaves the ranking at once; the search
guards it and every genome near it from the next generation, and the checkpoint keeps the veto) or promoted
(written out now, :func:`fab.morph.promote.promote`). Pause holds the search between generations; stop ends
it there (the best so far is reported and written). Worker changes apply between generations; evaluations
are pure functions of the genome, so the results for a seed do not depend on them.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from fab.errors import user_errors
from fab.live.server import Controls, LiveServer
from fab.morph.guards import VETOED
from fab.morph.search import Record, pareto_front

RANKED = 10  # designs listed in the ranking
PICKABLE = 40  # designs offered in the picker (best first)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "-"
    return str(value)


def _read_png(path: Path) -> np.ndarray | None:
    import imageio.v3 as iio

    try:
        return np.asarray(iio.imread(path))[..., :3]
    except (OSError, ValueError):
        return None


class SearchLive:
    """Steering for one search (see the module docstring); ``mj`` is the job (problem, output folder)."""

    def __init__(
        self,
        server: LiveServer,
        mj: Any,
        executor: Any,
        pareto_keys: tuple[str, ...] = (),
        finished: bool = False,
    ) -> None:
        self.server, self.mj, self.executor = server, mj, executor
        self.pareto_keys = pareto_keys
        self.finished = finished
        self.controls = Controls()
        self.records: list[Record] = []
        self.history: list[dict[str, float]] = []
        self.generation = 0
        self.vetoed: set[int] = set()  # shown as vetoed on the page (the search guards them too)
        self._pending_vetoes: list[int] = []
        self._promotions: list[dict[str, Any]] = []
        self._target: int | None = None
        self._camera_set = False
        self._follow = True  # the picker shows the best design until the person picks one
        self._auto_picks: set[str] = set()  # values we put in the picker (the client may echo them back)
        self._message = ""
        self._started: float | None = None  # when the generation under way started (None between them)
        self._evaluated: tuple[int, int] | None = None  # (done, total) of its evaluations
        self._drawing: threading.Thread | None = None  # the best design's picture, drawn off the search thread
        self._lock = threading.Lock()
        self._closed = False  # the search is over and the page goes on to another stage (close())
        self._scratch = Path(tempfile.mkdtemp(prefix="fab-live-"))
        gui = server.gui
        self.status = gui.add_markdown(f"**{mj.problem_name} search**: starting")
        with gui.add_folder("Search"):
            self.pause_button = gui.add_button("Pause")
            self.resume_button = gui.add_button("Resume")
            self.stop_button = gui.add_button("Stop")
            self.best_image = gui.add_image(np.full((8, 8, 3), 255, np.uint8), label="best design")
            self.convergence = gui.add_uplot(
                data=(np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1)),
                series=(
                    {"label": "generation"},
                    {"label": "best", "stroke": "#d62728", "width": 2},
                    {"label": "generation best", "stroke": "#1f77b4"},
                    {"label": "median", "stroke": "#7f7f7f"},
                ),
                scales={"x": {"time": False}, "y": {"distr": 3}},
                title="convergence (score, log)",
                aspect=1.6,
            )
            keys = pareto_keys or ("objective 1", "objective 2")
            self.pareto = gui.add_uplot(
                data=(np.zeros(1), np.zeros(1)),
                series=({"label": keys[0]}, {"label": keys[1], "stroke": "#2ca02c", "points": {"size": 7}}),
                scales={"x": {"time": False}},
                title=f"Pareto front: {keys[1]} vs {keys[0]}",
                aspect=1.6,
            )
        with gui.add_folder("Ranking"):
            self.ranking = gui.add_markdown("(no design yet)")
        with gui.add_folder("Design"):
            self.picker = gui.add_dropdown("design", ("-",), initial_value="-")
            self.goto = gui.add_text("any design (number)", initial_value="")
            self.details = gui.add_markdown("pick a design to inspect it")
            self.design_image = gui.add_image(np.full((8, 8, 3), 255, np.uint8), label="picked design")
            self.loaded_button = gui.add_button("Picture under load")
            self.veto_button = gui.add_button("Veto: not what I meant")
            self.promote_button = gui.add_button("Promote: write it out now")
        with gui.add_folder("Workers"):
            self.workers_md = gui.add_markdown(self._workers_text())
            self.add_button = gui.add_button("Add worker")
            self.remove_button = gui.add_button("Remove worker")
        self.pause_button.on_click(lambda _e: self._pause())
        self.resume_button.on_click(lambda _e: self._resume())
        self.stop_button.on_click(lambda _e: self._stop())
        self.picker.on_update(lambda _e: self._picked_by_person())
        self.goto.on_update(lambda _e: self._go_to())
        self.veto_button.on_click(lambda _e: self._veto())
        self.loaded_button.on_click(lambda _e: self._under_load())
        self.promote_button.on_click(lambda _e: self._promote())
        if finished:  # fab view: nothing runs; designs can still be inspected and promoted
            for handle in (
                self.pause_button,
                self.resume_button,
                self.stop_button,
                self.veto_button,
                self.add_button,
                self.remove_button,
            ):
                handle.visible = False
        self.add_button.on_click(lambda _e: self._change_workers(+1))
        self.remove_button.on_click(lambda _e: self._change_workers(-1))
        if not finished:
            threading.Thread(target=self._every_second, name="fab-live-search", daemon=True).start()

    def close(self) -> None:
        """The search is over and the server goes on to another page: stop redrawing this one."""
        self._closed = True
        if self._drawing is not None:
            self._drawing.join(30)

    # ---- the search calls these (its own thread) ----------------------------------------------------------

    def before_generation(self, executor: Any) -> None:
        self.controls.wait_while_paused(self._refresh_status)
        self._started, self._evaluated = time.perf_counter(), None
        with self._lock:
            target, self._target = self._target, None
        if target is not None and not self.controls.stopped:
            try:
                executor.resize(target)
                self._message = f"workers: {target}"
            except user_errors() as exc:
                self._message = f"workers unchanged: {exc}"
            self.workers_md.content = self._workers_text()
            self._refresh_status()

    def take_vetoes(self) -> list[int]:
        with self._lock:
            out, self._pending_vetoes = self._pending_vetoes, []
        return out

    def take_promotions(self) -> list[dict[str, Any]]:
        with self._lock:
            out, self._promotions = self._promotions, []
        return out

    def stop_requested(self) -> bool:
        return self.controls.stopped

    def evaluated(self, done: int, total: int) -> None:
        """The executor finished ``done`` of the generation's ``total`` evaluations (the page shows it)."""
        self._evaluated = (done, total)

    def _every_second(self) -> None:
        """While the search runs, the status (the generation under way: its evaluations, its time) and the
        workers are redrawn every second, so the page stays live within a long generation."""
        while not self.server.closed:
            time.sleep(1.0)
            if self.server.closed or self._closed or self.controls.stopped and self._started is None:
                return
            try:  # only what changed goes to the page (an unchanged redraw would re-render it for nothing)
                workers = self._workers_text()
                if workers != self.workers_md.content:
                    self.workers_md.content = workers
                self._refresh_status()
            except Exception:  # noqa: BLE001 (the server closing under us: stop redrawing)
                return

    def on_generation(self, generation: int, records: list[Record], history: list[dict[str, float]]) -> None:
        self.records, self.history, self.generation = records, history, generation
        self._started = None
        for i, r in enumerate(records):
            if VETOED in r.evaluation.guards:
                self.vetoed.add(i)
        with self.server.viser.atomic():
            self._refresh_plots()
            self._refresh_ranking()
            self.workers_md.content = self._workers_text()
            best = self._ranked()[:1]
            png = self.mj.output / "generations" / f"gen_{generation:03d}_best.png"
            image = _read_png(png) if png.is_file() else None
            if image is None and best:
                if (self._scratch / f"d{best[0]}.png").is_file():
                    image = self._snapshot(best[0])
                else:  # drawing it develops the design (seconds for a part): not on the search's thread
                    self._draw_best_later(best[0])
            if image is not None:
                self._show_best(image)
            self._refresh_status()

    def _draw_best_later(self, i: int) -> None:
        if self._drawing is not None and self._drawing.is_alive():
            return  # the next generation's best gets drawn then

        def draw() -> None:
            image = self._snapshot(i)
            if image is not None and not self.server.closed:
                self._show_best(image)

        self._drawing = threading.Thread(target=draw, name="fab-live-best", daemon=True)
        self._drawing.start()

    def _show_best(self, image: np.ndarray) -> None:
        self.best_image.image = image
        self._show_in_scene(image)

    def _show_in_scene(self, image: np.ndarray) -> None:
        """The best design's picture, large, in the 3D view (the panel keeps a small copy)."""
        height, width = image.shape[:2]
        scale = 10.0 / max(height, width)
        self.server.scene.add_image(
            "/best", image, render_width=width * scale, render_height=height * scale, format="png"
        )
        if not self._camera_set:
            self._camera_set = True
            cam = self.server.viser.initial_camera
            cam.look_at, cam.position, cam.up = (0.0, 0.0, 0.0), (0.0, 0.0, 9.0), (0.0, 1.0, 0.0)

    # ---- what the page shows --------------------------------------------------------------------------------

    def _ranked(self) -> list[int]:
        order = sorted(range(len(self.records)), key=lambda i: self.records[i].evaluation.ranked_score)
        seen: list[bytes] = []
        out = []
        for i in order:
            if i in self.vetoed:
                continue
            key = self.records[i].genome.tobytes()
            if key in seen:  # a GA elite met again: list the design once
                continue
            seen.append(key)
            out.append(i)
        return out

    def _refresh_status(self) -> None:
        state = "stopped" if self.controls.stopped else "paused" if self.controls.paused else "running"
        state = "finished" if self.finished else state
        ranked = self._ranked()
        best = ""
        if ranked:
            r = self.records[ranked[0]]
            best = f", best **d{ranked[0]}** score {_fmt(r.evaluation.score)} (generation {r.generation})"
        text = (
            f"**{self.mj.problem_name} search** ({state}): generation **{self.generation}** of "
            f"{self.mj.settings.generations}, **{len(self.records)}** designs evaluated{best}; "
            f"{len(self.vetoed)} vetoed; workers: {self.executor.description}"
        )
        started, evaluated = self._started, self._evaluated
        if not self.finished:  # always a second line: the buttons below must not move under the mouse
            upcoming = self.generation + 1
            if started is not None and state == "running":
                text += f"  \ngeneration {upcoming} under way for {time.perf_counter() - started:.0f} s"
                if evaluated is not None:
                    text += f": {evaluated[0]} of {evaluated[1]} designs evaluated"
            else:
                text += f"  \ngeneration {upcoming} {'held' if state == 'paused' else 'next'}"
        if self._message:
            text += f"  \n{self._message}"
        if text != self.status.content:
            self.status.content = text

    def _refresh_plots(self) -> None:
        if self.history:
            h = self.history
            gen = np.array([x["generation"] for x in h], dtype=float)
            cols = [
                np.array([max(x[k], 1e-12) for x in h], dtype=float)
                for k in ("best", "generation_best", "median")
            ]
            self.convergence.data = (gen, *cols)
        if len(self.pareto_keys) >= 2:
            clean = [r for i, r in enumerate(self.records) if i not in self.vetoed]
            front = pareto_front(clean, self.pareto_keys[:2])
            if front:
                xs = np.array([r.evaluation.objectives[self.pareto_keys[0]] for r in front], dtype=float)
                ys = np.array([r.evaluation.objectives[self.pareto_keys[1]] for r in front], dtype=float)
                self.pareto.data = (xs, ys)

    def _refresh_ranking(self) -> None:
        ranked = self._ranked()
        lines = ["| design | generation | score | guards |", "|---|---|---|---|"]
        for i in ranked[:RANKED]:
            ev = self.records[i].evaluation
            lines.append(
                f"| d{i} | {self.records[i].generation} | {_fmt(ev.score)} | {', '.join(ev.guards) or '-'} |"
            )
        self.ranking.content = "\n".join(lines) if ranked else "(no design yet)"
        options = [f"d{i}" for i in ranked[:PICKABLE]]
        current = self.picker.value
        if not self._follow and current not in options and self._picked() is not None:
            options.append(current)  # keep what the person is looking at
        if options:
            # Until the person picks a design, the picker follows the best one (new options may also reset
            # the picker to the first one: that is not the person's pick either).
            self._auto_picks.add(options[0])
            self.picker.options = tuple(options)
            if self._follow or current not in options:
                self.picker.value = options[0]
                self._show_picked()

    def _picked(self) -> int | None:
        value = self.picker.value
        if value.startswith("d") and value[1:].isdigit() and int(value[1:]) < len(self.records):
            return int(value[1:])
        return None

    def _show_picked(self) -> None:
        i = self._picked()
        if i is None:
            return
        r = self.records[i]
        ev = r.evaluation
        rows = [
            f"**d{i}**, generation {r.generation}: score **{_fmt(ev.score)}** (ranked {_fmt(ev.ranked_score)})"
        ]
        rows.append(f"guards: {', '.join(ev.guards) or 'none'}" + (" (vetoed)" if i in self.vetoed else ""))
        rows += [f"- {k}: {_fmt(v)}" for k, v in ev.objectives.items()]
        rows += [f"- {k}: {_fmt(v)}" for k, v in ev.metrics.items() if isinstance(v, int | float | str)]
        names = getattr(self.mj.problem, "gene_names", ())
        genes = ", ".join(f"{n} {g:.3f}" for n, g in zip(names, r.genome, strict=False)) or ", ".join(
            f"{g:.3f}" for g in r.genome
        )
        rows.append(f"genome: {genes}")
        self.details.content = "  \n".join(rows)
        image = self._snapshot(i)
        if image is not None:
            self.design_image.image = image

    def _snapshot(self, i: int) -> np.ndarray | None:
        path = self._scratch / f"d{i}.png"
        if not path.is_file():
            try:
                self.mj.problem.snapshot(self.records[i].genome, path, f"d{i}")
            except user_errors():
                return None
        return _read_png(path) if path.is_file() else None

    def _workers_text(self) -> str:
        try:
            rows = self.executor.workers()
        except Exception as exc:  # noqa: BLE001 (a scheduler that went away: say so on the page)
            return f"workers: cannot list them ({exc})"
        with self._lock:
            target = self._target
        lines = [f"**{len(rows)} workers** ({self.executor.description})"]
        span = getattr(self.executor, "adaptive_range", lambda: None)()
        if span is not None:
            lines[0] += f", adaptive between {span[0]} and {span[1]:g}"
        if target is not None:
            lines[0] += f", **{target}** from the next generation"
        lines += [f"- {w['name']}: {w['address']}, {w['status']}" for w in rows]
        return "  \n".join(lines)

    # ---- what the person does (viser's threads) -------------------------------------------------------------

    def _pause(self) -> None:
        self.controls.pause()
        self._refresh_status()

    def _resume(self) -> None:
        self.controls.resume()
        self._refresh_status()

    def _stop(self) -> None:
        self.controls.stop()
        self._message = "stopping after this generation: the best so far is reported and written"
        self._refresh_status()

    def _under_load(self) -> None:
        """The picked design under its service load, where the problem can draw one (fab.stress)."""
        i = self._picked()
        draw = getattr(self.mj.problem, "loaded_snapshot", None)
        if i is None:
            return
        if draw is None:
            self._message = f"the {self.mj.problem_name} problem has no picture under load"
            self._refresh_status()
            return
        self._message = f"solving d{i} under load ..."
        self._refresh_status()
        path = self._scratch / f"d{i}_loaded.png"
        try:
            if not path.is_file():
                draw(self.records[i].genome, path, f"d{i} under load")
            image = _read_png(path)
        except user_errors() as exc:
            self._message = f"d{i} under load: {exc}"
            image = None
        if image is not None:
            self.design_image.image = image
            self._message = f"d{i} under its design load: the picture is under the design's details"
        self._refresh_status()

    def _go_to(self) -> None:
        """Inspect any evaluated design by its number (the picker lists the best 40; vetoed ones are left out)."""
        raw = self.goto.value.strip().lstrip("dD")
        if not raw.isdigit():
            return
        i = int(raw)
        if i >= len(self.records):
            self._message = f"no design d{i}: {len(self.records)} evaluated so far (d0 to d{len(self.records) - 1})"
            self._refresh_status()
            return
        value = f"d{i}"
        self._follow = False
        if value not in self.picker.options:
            self.picker.options = (*self.picker.options, value)
        self.picker.value = value
        self._show_picked()

    def _picked_by_person(self) -> None:
        if self.picker.value not in self._auto_picks:
            self._follow = False
        self._show_picked()

    def _veto(self) -> None:
        i = self._picked()
        if i is None or i in self.vetoed:
            return
        with self._lock:
            self._pending_vetoes.append(i)
            self.vetoed.add(i)
        self._message = f"vetoed d{i}: designs near it are guarded from the next generation"
        with self.server.viser.atomic():
            self._refresh_ranking()
            self._refresh_plots()
            self._refresh_status()

    def _promote(self) -> None:
        from fab.morph.promote import promote

        i = self._picked()
        if i is None:
            return
        self._message = f"writing d{i} ..."
        self._refresh_status()
        t0 = time.perf_counter()
        info = promote(self.mj, self.records[i], i)
        with self._lock:
            self._promotions.append(info)
        self._message = (
            f"promoted d{i}: {Path(info['files']['json']).parent} ({time.perf_counter() - t0:.1f} s)"
            + (f"; not written: {info['file_errors']}" if info["file_errors"] else "")
        )
        self._refresh_status()

    def _change_workers(self, delta: int) -> None:
        with self._lock:
            current = self._target if self._target is not None else len(self.executor.workers())
            self._target = max(1, current + delta)
        self.workers_md.content = self._workers_text()
