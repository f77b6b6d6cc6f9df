"""Make the pictures and figures of docs/tutorial.md: run samples/bracket_stress.py, picture what it wrote and
rewrite the tutorial's ``<!-- generated: NAME -->`` ... ``<!-- /generated -->`` regions with what it printed
(the summary, the print and assembly lines, the build time, and the same test on a lattice twice as fine).

    .venv/bin/python docs/make_tutorial_images.py [--out docs/img] [--from RUN_FOLDER] [--no-fine]

Writes ``tutorial_bracket.png`` (the part), ``tutorial_stress.png`` (the stress test),
``tutorial_gcode.png`` (the printer's toolpaths, cut at mid-height of the base) and ``tutorial_assembly.png`` (the robot's
placement order, half built), 800 x 600, quantized to 256 colours to stay small.

Rendering is off-screen with pyvista (VTK). Without a display, the VTK wheels (9.4 and later) render
through EGL or OSMesa; older builds need an X server: install ``xvfb`` and run this under ``xvfb-run``.
A rendering test runs first, in a child process (a VTK that cannot make a context may crash instead of
raising), and a failure ends with one line saying what to install.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SIZE = (800, 600)
_PROBE = """
import pyvista as pv, sys
p = pv.Plotter(off_screen=True, window_size=(64, 48))
p.add_mesh(pv.Sphere())
p.screenshot(sys.argv[1])
p.close()
"""


def check_rendering() -> None:
    """Exit with one line when off-screen rendering does not work here (tried in a child process)."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.png"
        run = subprocess.run(
            [sys.executable, "-c", _PROBE, str(probe)], capture_output=True, text=True, timeout=120
        )
        if run.returncode == 0 and probe.is_file() and probe.stat().st_size > 0:
            return
    last = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
    last = re.sub(r"\x1b\[[0-9;]*m", "", last).split("| ")[-1].strip()  # VTK's colours and log prefix
    hint = (
        "run it under xvfb-run"
        if shutil.which("xvfb-run")
        else "install xvfb (apt-get install -y xvfb) and run it under xvfb-run, or use a VTK build with EGL/OSMesa"
    )
    sys.exit(f"make_tutorial_images: off-screen rendering failed ({last}): {hint}")


def _plotter():
    import pyvista as pv

    plotter = pv.Plotter(off_screen=True, window_size=list(SIZE))
    plotter.set_background("white")
    return plotter


def _quantize(path: Path) -> None:
    """Rewrite a PNG with a 256-colour palette: a few tens of kB per picture."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def _save(plotter, path: Path) -> None:
    plotter.screenshot(str(path))
    plotter.close()
    _quantize(path)


def picture_part(stl: Path, path: Path) -> None:
    import pyvista as pv

    plotter = _plotter()
    plotter.add_mesh(pv.read(stl), color="#9db4cf", smooth_shading=True, split_sharp_edges=True, specular=0.3)
    plotter.view_isometric()
    plotter.enable_parallel_projection()
    _save(plotter, path)


ROLE_COLOURS = {
    "External perimeter": "#d62728",
    "Perimeter": "#ff9f1c",
    "Solid infill": "#6a3d9a",
    "Internal infill": "#1f77b4",
    "Top solid infill": "#2ca02c",
}


def gcode_paths(gcode: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Printed moves of one of our G-code files after its start block: segment ends (n, 2, 3) in bed mm per
    ``;TYPE:`` role, and the offset (mm) that placed the part on the bed."""
    word = re.compile(r"([XYZE])(-?\d*\.?\d+)")
    text = gcode.read_text()
    found = re.search(r"offset = \(([-\d.]+), ([-\d.]+), ([-\d.]+)\)", text)
    offset = np.array([float(v) for v in found.groups()]) if found else np.zeros(3)
    pos, role, started, paths = np.zeros(3), "", False, {}
    for line in text.splitlines():
        if line.startswith(";LAYER_CHANGE"):
            started = True
        elif line.startswith(";TYPE:"):
            role = line[6:].strip()
        code = line.split(";", 1)[0].strip()
        if not code.startswith(("G0 ", "G1 ")):
            continue
        values = dict(word.findall(code))
        new = pos.copy()
        for axis, letter in enumerate("XYZ"):
            if letter in values:
                new[axis] = float(values[letter])
        # Relative extrusion (M83) after the start block: E > 0 lays material down along the move.
        if started and float(values.get("E", 0.0)) > 0 and not np.allclose(new[:2], pos[:2]):
            paths.setdefault(role, []).append((pos.copy(), new.copy()))
        pos = new
    return {r: np.array(v, dtype=float) for r, v in paths.items()}, offset


def picture_gcode(gcode: Path, stl: Path, path: Path, cut_z: float) -> None:
    """The printed paths up to height ``cut_z`` (mm) coloured by role (infill of the top layer only: the
    layers below cross it at alternating angles), the rest of the part see-through."""
    import pyvista as pv

    paths, offset = gcode_paths(gcode)
    plotter = _plotter()
    ghost = pv.read(stl).translate(offset)
    plotter.add_mesh(ghost, color="#9db4cf", opacity=0.15)
    legend = []
    top = max(float(e[:, 1, 2][e[:, 1, 2] <= cut_z + 1e-6].max(initial=0.0)) for e in paths.values())
    for role, ends in paths.items():
        ends = ends[(ends[:, :, 2] <= cut_z + 1e-6).all(axis=1)]
        if "infill" in role:
            ends = ends[np.isclose(ends[:, 1, 2], top)]
        if not len(ends):
            continue
        n = len(ends)
        cells = np.column_stack([np.full(n, 2), np.arange(0, 2 * n, 2), np.arange(1, 2 * n, 2)])
        colour = ROLE_COLOURS.get(role, "#555555")
        plotter.add_mesh(pv.PolyData(ends.reshape(-1, 3), lines=cells.ravel()), color=colour, line_width=2)
        legend.append([role.lower(), colour])
    for row, (name, colour) in enumerate(legend):  # a hand-made legend: pyvista's clips its text
        plotter.add_text(name, position=(SIZE[0] - 230, SIZE[1] - 30 - 22 * row), font_size=10, color=colour)
    plotter.add_text(f"toolpaths up to z = {cut_z:g} mm", font_size=10, color="black", position="upper_left")
    plotter.view_isometric()
    plotter.enable_parallel_projection()
    _save(plotter, path)


def picture_assembly(plan_path: Path, path: Path, fraction: float = 0.6) -> None:
    """The first ``fraction`` of the placements as cubes coloured by their place in the order."""
    import pyvista as pv

    from exporters.assembly import read_assembly

    plan = read_assembly(plan_path)
    lattice = plan["lattice"]
    pitch, origin = float(lattice["pitch_mm"]), np.asarray(lattice["origin_mm"], dtype=float)
    placements = plan["placements"]
    done = placements[: max(1, int(fraction * len(placements)))]
    centres = pv.PolyData(origin + done[:, 1:4] * pitch)
    centres.point_data["order"] = done[:, 0].astype(float)
    cubes = centres.glyph(
        geom=pv.Cube(x_length=0.92 * pitch, y_length=0.92 * pitch, z_length=0.92 * pitch),
        scale=False,
        orient=False,
    )
    rest = pv.PolyData(origin + placements[len(done) :, 1:4] * pitch)
    plotter = _plotter()
    plotter.add_mesh(
        cubes,
        scalars="order",
        cmap="plasma",
        clim=(0, len(placements) - 1),
        scalar_bar_args={
            "title": "order",
            "color": "black",
            "fmt": "%.0f",
            "vertical": True,
            "position_x": 0.85,
            "position_y": 0.2,
        },
    )
    if rest.n_points:
        ghost = rest.glyph(
            geom=pv.Cube(x_length=pitch, y_length=pitch, z_length=pitch), scale=False, orient=False
        )
        plotter.add_mesh(ghost, color="#bbbbbb", style="wireframe", opacity=0.25)
    plotter.add_text(
        f"{len(done)} of {len(placements)} voxels placed", font_size=10, color="black", position="upper_left"
    )
    plotter.view_isometric()
    plotter.enable_parallel_projection()
    _save(plotter, path)


def picture_stress(png: Path, path: Path) -> None:
    """The sample's own stress picture (``report.save_png``), scaled down."""
    from PIL import Image

    with Image.open(png) as image:
        image.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS).save(path)
    _quantize(path)


def pictures(run: Path, out: Path) -> list[Path]:
    """The four pictures from the files of a run of samples/bracket_stress.py in folder ``run``."""
    out.mkdir(parents=True, exist_ok=True)
    pngs = [out / f"tutorial_{name}.png" for name in ("bracket", "stress", "gcode", "assembly")]
    picture_part(run / "bracket.stl", pngs[0])
    picture_stress(run / "bracket_stress.png", pngs[1])
    # Up to the middle of the base plate: its perimeters and sparse infill show.
    picture_gcode(run / "bracket.gcode", run / "bracket.stl", pngs[2], cut_z=2.6)
    picture_assembly(run / "bracket_assembly.json", pngs[3])
    return pngs


TUTORIAL = REPO / "docs" / "tutorial.md"
_REGION = re.compile(r"(<!-- generated: (\w+) -->\n)(.*?)(<!-- /generated -->)", re.S)


def run_sample(folder: Path, pitch: float | None = None) -> tuple[str, float]:
    """Run the sample into ``folder``: (what it printed, wall seconds)."""
    import time

    sample = REPO / "samples" / "bracket_stress.py"
    args = [sys.executable, str(sample), "--out", str(folder)] + ([] if pitch is None else ["--pitch", f"{pitch:g}"])
    start = time.monotonic()
    run = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    if run.returncode != 0:
        raise SystemExit(f"make_tutorial_images: the sample failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
    return run.stdout, time.monotonic() - start


def _summary_figures(printed: str) -> dict[str, str]:
    """Pitch, particles, displacement, stress, iterations and seconds from the sample's summary lines."""
    first = re.search(r"of ([\d,]+) particles \(([\d.]+) mm pitch.*?; ([\d,]+) iterations, (.*?), ([\d.]+) s", printed)
    second = re.search(r"max displacement ([\d.e+-]+) mm; max von Mises ([\d.e+-]+) MPa", printed)
    if not (first and second):
        raise SystemExit(f"make_tutorial_images: the sample's summary has changed; update _summary_figures:\n{printed}")
    particles, pitch, iterations, state, seconds = first.groups()
    return dict(particles=particles, pitch=pitch, iterations=iterations, state=state, seconds=seconds,
                displacement=second.group(1), stress=second.group(2))


def tutorial_regions(printed: str, fine: str | None, plan: dict) -> dict[str, str]:
    """The text of each generated region of the tutorial, from the sample's output (and the finer run's)."""
    lines = printed.strip().splitlines()
    summary = [line for line in lines if not line.startswith(("print:", "robot assembly:", "wrote "))]
    regions = {
        "summary": "```text\n" + "\n".join(summary) + "\n```\n",
        "print": "```text\n" + next(line for line in lines if line.startswith("print:")) + "\n```\n",
        "assembly": "```text\n" + next(line for line in lines if line.startswith("robot assembly:")) + "\n```\n",
        "build_time": f"{plan['estimated_build_time_h']:.1f} hours at {plan['placement_rate_per_hour']:g} "
        "voxels an hour.\n",
    }
    coarse = _summary_figures(printed)
    rows = [("lattice", "particles", "max displacement", "max von Mises", "iterations", "seconds")]
    rows.append((f"{coarse['pitch']} mm", coarse["particles"], f"{coarse['displacement']} mm",
                 f"{coarse['stress']} MPa", coarse["iterations"], coarse["seconds"]))
    if fine is not None:
        f = _summary_figures(fine)
        rows.append((f"{f['pitch']} mm", f["particles"], f"{f['displacement']} mm", f"{f['stress']} MPa",
                     f["iterations"], f["seconds"]))
    table = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    table += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    regions["beam"] = "\n".join(table) + "\n" + (
        "" if fine is not None else "\n(the finer run was not made: --no-fine)\n"
    )
    return regions


def rewrite_tutorial(regions: dict[str, str], path: Path = TUTORIAL) -> None:
    text = path.read_text(encoding="utf-8")
    names = {m.group(2) for m in _REGION.finditer(text)}
    if names != set(regions):
        raise SystemExit(f"make_tutorial_images: {path} has regions {sorted(names)}, expected {sorted(regions)}")
    path.write_text(_REGION.sub(lambda m: m.group(1) + regions[m.group(2)] + m.group(4), text), encoding="utf-8")


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--out", type=Path, default=REPO / "docs" / "img", help="folder for the PNGs")
    cli.add_argument(
        "--from", dest="run", type=Path, help="use the files (and printed.txt) of an earlier run in this folder"
    )
    cli.add_argument("--no-fine", action="store_true", help="skip the run at half the pitch")
    args = cli.parse_args()
    check_rendering()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or Path(tmp)
        if args.run is None:  # the sample prints its summary; its pictures come from its files
            printed, _ = run_sample(run)
            (run / "printed.txt").write_text(printed)
        printed = (run / "printed.txt").read_text()
        print(printed)
        fine = None
        if not args.no_fine:
            pitch = float(_summary_figures(printed)["pitch"]) / 2
            fine, _ = run_sample(Path(tmp) / "fine", pitch)
            print(fine)
        from exporters.assembly import read_assembly

        plan = read_assembly(run / "bracket_assembly.json")["summary"]
        rewrite_tutorial(tutorial_regions(printed, fine, plan))
        print(f"rewrote the generated figures of {TUTORIAL}")
        for png in pictures(run, args.out):
            print(f"{png} {os.path.getsize(png) / 1024:.0f} kB")


if __name__ == "__main__":
    main()
