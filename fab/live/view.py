"""``fab view RESULT``: the live page on finished results.

- a ``.vtu`` (``fab simulate --vtk``) or a ``.pvd`` series (an impact's frames): the particles deformed by the
  scale slider, coloured by any of the file's fields, a frame slider for a series;
- a morph output folder (``summary.json`` + ``checkpoint.pkl``): the search page with its ranking, Pareto
  front, convergence and every evaluated design to inspect or promote (written out now).

The page stays up until Ctrl-C.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from fab.errors import FabError
from fab.live.server import MAX_POINTS, LiveServer, colours, subsample
from fab.progress import stderr_console

AUTO_SHARE = 0.05  # largest displacement drawn as this share of the part's size at first


def read_series(path: Path) -> tuple[np.ndarray, list[tuple[float, dict[str, np.ndarray]]]]:
    """(reference points mm, [(time s, point fields)]) of a ``.vtu`` or a ``.pvd`` collection of them."""
    import pyvista as pv

    def read(vtu: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        try:
            mesh = pv.read(vtu)
        except Exception as exc:  # noqa: BLE001 (VTK's readers raise many kinds)
            raise FabError(f"cannot read {vtu}: {exc}") from None
        if mesh.n_points == 0:
            raise FabError(f"{vtu} holds no particles")
        return np.asarray(mesh.points, dtype=float), {
            k: np.asarray(mesh.point_data[k]) for k in mesh.point_data
        }

    suffix = path.suffix.lower()
    if suffix == ".vtu":
        points, data = read(path)
        return points, [(0.0, data)]
    if suffix != ".pvd":
        raise FabError(f"{path}: fab view shows .vtu / .pvd results or a morph output folder")
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise FabError(f"cannot read {path}: {exc}") from None
    frames = []
    points = None
    for ds in root.iter("DataSet"):
        file = path.parent / ds.get("file", "")
        if not file.is_file():
            raise FabError(f"{path}: frame {file.name} is missing")
        pts, data = read(file)
        points = pts if points is None else points
        frames.append((float(ds.get("timestep", len(frames))), data))
    if points is None:
        raise FabError(f"{path} lists no frames")
    return points, frames


def _fields(frame: dict[str, np.ndarray]) -> list[str]:
    names = []
    for k, v in frame.items():
        if v.ndim == 1 or (v.ndim == 2 and v.shape[1] == 3):
            names.append(k)
    return sorted(names, key=lambda k: (k != "displacement_mm", k))


def _values(frame: dict[str, np.ndarray], name: str) -> np.ndarray:
    v = frame[name]
    v = np.linalg.norm(v, axis=1) if v.ndim == 2 else v
    return v / 1e6 if name.endswith("_pa") else v


class ResultsView:
    """The particles of a finished stress test (one state or a series)."""

    def __init__(self, server: LiveServer, path: Path) -> None:
        from scipy.spatial import cKDTree

        self.server = server
        points, self.frames = read_series(path)
        self.index = subsample(len(points), MAX_POINTS)
        self.points = np.asarray(points if self.index is None else points[self.index], dtype=np.float32)
        sample = self.points[: min(len(self.points), 2000)]
        pitch = (
            float(np.median(cKDTree(self.points).query(sample, k=2)[0][:, 1]))
            if len(self.points) > 1
            else 1.0
        )
        lo, hi = self.points.min(axis=0), self.points.max(axis=0)
        self.size = float(np.max(hi - lo) + pitch)
        centre = (lo + hi) / 2
        v = server.viser
        v.initial_camera.look_at = tuple(float(c) for c in centre)
        v.initial_camera.position = tuple(float(c) for c in centre + np.array([0.9, -1.6, 1.1]) * self.size)
        v.initial_camera.up = (0.0, 0.0, 1.0)
        gui = server.gui
        names = _fields(self.frames[-1][1])
        if not names:
            raise FabError(f"{path} has no point fields to show")
        self.status = gui.add_markdown("")
        self.field = gui.add_dropdown("colour by", tuple(names), initial_value=names[0])
        self.scale = gui.add_slider("deformation x (log10)", min=0.0, max=5.0, step=0.1, initial_value=0.0)
        self.frame = gui.add_slider(
            "frame",
            min=0,
            max=max(len(self.frames) - 1, 1),
            step=1,
            initial_value=len(self.frames) - 1,
            disabled=len(self.frames) < 2,
        )
        self.legend = gui.add_markdown("")
        disp = self.frames[-1][1].get("displacement_mm")
        if disp is not None and disp.ndim == 2:
            umax = float(np.linalg.norm(disp, axis=1).max())
            if umax > 0:
                self.scale.value = round(
                    float(np.clip(np.log10(max(AUTO_SHARE * self.size / umax, 1.0)), 0, 5)), 1
                )
        self.cloud = server.scene.add_point_cloud(
            "/part",
            points=self.points,
            colors=np.full((len(self.points), 3), 180, np.uint8),
            point_size=0.9 * pitch,
            precision="float32",
            point_shape="square",
        )
        self.path, self.total = path, len(points)
        for handle in (self.field, self.scale, self.frame):
            handle.on_update(lambda _e: self.draw())
        self.draw()

    def draw(self) -> None:
        k = int(self.frame.value)
        t, data = self.frames[min(max(k, 0), len(self.frames) - 1)]
        name = self.field.value
        if name not in data:  # a field written for the last frame only
            name = _fields(data)[0]
        values = _values(data, name)
        values = values if self.index is None else values[self.index]
        disp = data.get("displacement_mm")
        u = (
            np.zeros_like(self.points)
            if disp is None or disp.ndim != 2
            else disp
            if self.index is None
            else disp[self.index]
        )
        magnify = 10.0 ** float(self.scale.value)
        categorical = name.startswith("fragment")
        lo, hi = float(values.min()), float(values.max())
        with self.server.viser.atomic():
            self.cloud.points = (self.points + magnify * u).astype(np.float32)
            self.cloud.colors = colours(values, lo, hi, categorical)
            unit = " MPa" if name.endswith("_pa") else " mm" if name.endswith("_mm") else ""
            self.legend.content = (
                f"{int(hi) + 1} fragments"
                if categorical
                else f"{name.removesuffix('_pa').removesuffix('_mm')}: **{lo:.4g}** (blue) to **{hi:.4g}** (red){unit}; "
                f"deformation x {magnify:.3g}"
            )
            self.status.content = (
                f"**{self.path.name}**: frame **{k + 1}** of {len(self.frames)} (t = {t * 1e6:.4g} us), "
                f"**{len(self.points):,}** particles shown of {self.total:,}"
            )


def open_search(server: LiveServer, folder: Path):
    """The search page of a finished ``fab morph`` output folder."""
    from fab.live.search import SearchLive
    from fab.morph import checkpoint
    from fab.morph.config import read_morph_job
    from fab.morph.problems import pareto_keys

    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise FabError(f"{folder}: no summary.json here (is it a fab morph output folder?)")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FabError(f"cannot read {summary_path}: {exc}") from None
    job_path = Path(summary.get("job", ""))
    if not job_path.is_file():
        raise FabError(f"{summary_path}: its job file {job_path} is gone; the designs cannot be redrawn")
    mj = read_morph_job(job_path)
    mj = replace(
        mj, output=folder, settings=replace(mj.settings, seed=int(summary.get("seed", mj.settings.seed)))
    )
    state = checkpoint.load(folder / "checkpoint.pkl", mj.settings.fingerprint(mj.problem))
    view = SearchLive(server, mj, _Finished(), pareto_keys(mj.problem_name), finished=True)
    view.on_generation(state["generation"], state["records"], state["history"])
    return view


class _Finished:
    """The executor of a finished search: nothing runs."""

    description = "finished"

    def workers(self) -> list[dict[str, Any]]:
        return []


def open_view(result: Path, options: Any) -> tuple[LiveServer, Any]:
    """Start the server and build the page of ``result`` (a .vtu/.pvd file or a morph output folder)."""
    result = Path(result)
    if not result.exists():
        raise FabError(f"not found: {result}")
    if result.is_file() and result.suffix.lower() not in (".vtu", ".pvd"):
        raise FabError(f"{result}: fab view shows .vtu / .pvd results or a morph output folder")
    server = LiveServer(
        f"fab view {result.name}", host=options.host, port=options.port, token=options.token, quiet=True
    )
    try:
        page = open_search(server, result) if result.is_dir() else ResultsView(server, result)
    except BaseException:
        server.close()
        raise
    return server, page


def view(result: Path, options: Any, quiet: bool = False, seconds: float | None = None) -> None:
    """Serve the page of ``result`` until Ctrl-C (or for ``seconds``)."""
    import time

    if seconds is not None and not seconds > 0:
        raise FabError(f"--for must be > 0 seconds, got {seconds}")
    server, _page = open_view(result, options)
    try:
        if not quiet:
            stderr_console.print(f"live view: {server.url} (Ctrl-C to stop)", highlight=False, soft_wrap=True)
        end = time.monotonic() + (seconds if seconds is not None else float("inf"))
        while time.monotonic() < end:
            time.sleep(min(1.0, max(end - time.monotonic(), 0.0)))
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
