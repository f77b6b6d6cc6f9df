"""Reports of a stress test people can look at: ParaView files, a PNG, a terminal summary.

- ``write_results``: ``.vtu`` (particles with displacement mm, damage, von Mises Pa, fragment id) or, for an impact,
  a ``.pvd`` time series of ``.vtu`` frames written next to it (``name_0000.vtu`` ...).
- ``render_png``: the deformed part (each particle drawn as its voxel, moved with it) coloured by von Mises stress
  or damage, with a colour bar in units, rendered offscreen by pyvista.
- ``summary_lines`` / ``print_summary``: the figures that matter, in words and units.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fab.errors import FabError

if TYPE_CHECKING:
    from fab.stress import StressReport

# The displacement is exaggerated in pictures so the largest reads as this fraction of the part's size.
SHOW_DEFORMATION = 0.05


def point_data(report: StressReport) -> dict[str, np.ndarray]:
    return {
        "displacement_mm": report.displacement_mm.astype(np.float32),
        "damage": report.damage.astype(np.float32),
        "von_mises_pa": report.von_mises_pa.astype(np.float32),
        "fragment_id": report.fragment_id.astype(np.int32),
    }


def write_results(report: StressReport, path: str | os.PathLike[str]) -> Path:
    """``.vtu`` of the final state, or ``.pvd`` + one ``.vtu`` per frame of an impact; returns the path."""
    from exporters.vtk import write_pvd, write_vtu

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".vtu", ".pvd"):
        raise FabError(f"{path}: results are written as .vtu (one state) or .pvd (a time series)")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".vtu":
        write_vtu(report.points_mm, path, point_data(report))
        return path
    frames = report.frames or [
        {"time_s": 0.0, "displacement_mm": report.displacement_mm, "damage": report.damage}
    ]
    entries = []
    for i, frame in enumerate(frames):
        frame_path = path.with_name(f"{path.stem}_{i:04d}.vtu")
        data = {k: np.asarray(v) for k, v in frame.items() if k != "time_s"}
        if i == len(frames) - 1:
            data.update(point_data(report))
        write_vtu(report.points_mm, frame_path, data)
        entries.append((frame["time_s"], frame_path))
    write_pvd(entries, path)
    return path


def _quiet_vtk() -> None:
    """VTK prints to stderr when there is no X display and it falls back to offscreen rendering."""
    import vtk

    vtk.vtkObject.GlobalWarningDisplayOff()
    try:
        vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_OFF)
    except AttributeError:
        pass


def render_png(
    report: StressReport,
    path: str | os.PathLike[str],
    field: str | None = None,
    size: tuple[int, int] = (1200, 900),
) -> Path:
    """Render the deformed part coloured by ``field`` ("von_mises" default, or "damage") to a PNG."""
    import pyvista as pv

    from exporters.atomic import atomic_path

    field = field or (
        "damage" if report.test in ("failure", "impact") and report.damage.max() > 0 else "von_mises"
    )
    if field not in ("von_mises", "damage"):
        raise FabError(f"PNG field must be 'von_mises' or 'damage', got {field!r}")
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise FabError(f"{path}: expected a .png file name")
    _quiet_vtk()
    points = report.points_mm
    size_mm = float(np.ptp(points, axis=0).max() + report.pitch_mm)
    peak = float(np.linalg.norm(report.displacement_mm, axis=1).max())
    scale = SHOW_DEFORMATION * size_mm / peak if peak > 0 else 0.0
    scale = min(scale, 1e6)
    moved = points + scale * report.displacement_mm
    cloud = pv.PolyData(moved)
    if field == "von_mises":
        values, title = report.von_mises_pa / 1e6, "von Mises stress (MPa)"
        # Boundary particles carry artificial peaks: colour up to the part's reported maximum.
        clim = (0.0, max(report.max_von_mises_pa / 1e6, 1e-12))
    else:
        values, title = report.damage, "damage (broken bond fraction)"
        clim = (0.0, 1.0)
    cloud.point_data["value"] = values.astype(np.float32)
    edge = report.pitch_mm
    thickness = report.thickness_mm if report.dimension == 2 and report.thickness_mm else edge
    cube = pv.Cube(x_length=edge, y_length=edge, z_length=thickness if report.dimension == 2 else edge)
    voxels = cloud.glyph(geom=cube, scale=False, orient=False)
    plotter = pv.Plotter(off_screen=True, window_size=list(size))
    plotter.set_background("white")
    plotter.add_mesh(
        voxels,
        scalars="value",
        cmap="turbo",
        clim=clim,
        show_edges=False,
        scalar_bar_args={
            "title": "",  # VTK draws a horizontal bar's title over its labels: the title is a text above it
            "color": "black",
            "vertical": False,
            "fmt": "%.3g",
            "position_x": 0.2,
            "position_y": 0.04,
            "width": 0.6,
            "height": 0.06,
        },
    )
    plotter.add_text(title, position=(int(0.2 * size[0]), int(0.14 * size[1])), font_size=9, color="black")
    plotter.add_axes(color="black")
    deformation = f"displacement x{scale:.3g}" if scale else "undeformed"
    plotter.add_text(png_title(report, deformation), font_size=10, color="black")
    warning = not_converged(report)
    if warning:
        import textwrap

        plotter.add_text(
            "\n".join(textwrap.wrap(warning, 110)), position=(10, int(0.80 * size[1])), font_size=9, color="red"
        )
    plotter.view_isometric() if report.dimension == 3 else plotter.view_xy()
    plotter.enable_parallel_projection()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        plotter.screenshot(str(tmp))
    plotter.close()
    return path


def failed_pieces(report: StressReport) -> int:
    """Pieces of the state the fields describe (a failure test's failed state)."""
    return int(len(np.unique(report.fragment_id))) if len(report.fragment_id) else 0


def curve_lines(report: StressReport) -> list[str]:
    """The load-displacement curve of a failure test as a small text table."""
    if not report.curve or report.test != "failure":
        return []
    lines = ["load-displacement curve (load factor, load N, displacement mm, broken bonds %):"]
    for p in report.curve:
        load = "-" if p.get("load_n") is None else f"{p['load_n']:.4g}"
        mark = " <- peak" if p.get("peak") else (" <- failed" if p.get("failed") else "")
        lines.append(
            f"  {p.get('factor', 0.0):8.4g} {load:>10} {p.get('displacement_mm', 0.0):10.4g} "
            f"{100 * p.get('broken_bond_fraction', 0.0):8.3g}{mark}"
        )
    return lines


def save_curve_png(report: StressReport, path: str | os.PathLike[str]) -> Path:
    """The failure test's load-displacement curve as a PNG (matplotlib, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from exporters.atomic import atomic_path

    if not report.curve:
        raise FabError("no load-displacement curve: only a failure test records one")
    path = Path(path)
    x = [p.get("displacement_mm", 0.0) for p in report.curve]
    force = [p.get("load_n") if p.get("load_n") is not None else p.get("factor", 0.0) for p in report.curve]
    unit = "load (N)" if report.curve[0].get("load_n") is not None else "load factor"
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=120)
    ax.plot(x, force, "o-", color="#1f77b4")
    peak = [i for i, p in enumerate(report.curve) if p.get("peak")]
    if peak:
        ax.plot([x[peak[0]]], [force[peak[0]]], "o", color="#d62728", label="failure (peak)")
        ax.legend()
    ax.set_xlabel("displacement of the loaded region (mm)")
    ax.set_ylabel(unit)
    title = f"failure test, {report.material.name}"
    if report.failure_load_factor is not None:
        title += f": fails at {report.failure_load_factor:.3g} x the service load"
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


def png_title(report: StressReport, deformation: str) -> str:
    """The picture's title: what it shows. A failure test pictures its first failed state, so its title gives
    that state (load factor, load, broken bonds, pieces), not the service-load figures."""
    r = report
    head = f"{r.test} test, {r.material.name}, {r.model.upper()} ({deformation})"
    if r.test == "failure":
        if r.failure_load_factor is None:
            return f"{head}\nno failure found: the state at the largest load tried"
        load = (f"{r.failure_load_n:.4g} N" if r.failure_load_n else "") + (
            f"{r.failure_torque_nm:.4g} N*m" if r.failure_torque_nm else ""
        )
        return (
            f"{head}\nfailed state at {r.failure_load_factor:.3g} x the service load ({load}): "
            f"mean damage {r.damage.mean():.2g}, {failed_pieces(r)} piece(s)"
        )
    if not r.converged:
        head = "NOT CONVERGED: " + head
    return f"{head}; max {r.max_displacement_mm:.3g} mm, {r.max_von_mises_pa / 1e6:.3g} MPa"


def _fmt(value: float | None, unit: str, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g} {unit}"


def not_converged(report: StressReport) -> str | None:
    """None when the solve converged, else one line: NOT CONVERGED, why (with the residual), and what to raise in
    the words of the interface in use (``report.steps_setting``: ``--steps``, ``steps=`` or ``[test] steps``)."""
    if report.converged:
        return None
    why = next((n for n in reversed(report.notes) if "equilibrium" in n), None)
    if why is None:
        left = "" if report.residual is None else f" (residual {report.residual:.2g}, tolerance {report.tolerance:g})"
        why = f"stopped after {report.steps:,} iterations{left}"
    # A solve that ran out of iterations needs more of them; one that found no equilibrium (a crack, a runaway)
    # needs another load or support, not more iterations.
    if "did not reach equilibrium" in why or not report.notes:
        hint = f": raise {report.steps_setting} (this run: {report.steps:,} iterations)"
    else:
        hint = "; the figures are the last iterate's, not an equilibrium"
    return f"NOT CONVERGED: {why}{hint}"


def summary_lines(report: StressReport) -> list[str]:
    """The report as readable lines."""
    r = report
    # A failure test's scalars are at the service load and its fields (pictures) at the failed state: say which.
    at = "at the service load: " if r.test == "failure" else ""
    lines = [
        f"{r.test} test of {r.particles:,} particles ({r.pitch_mm:g} mm pitch, {r.bonds:,} bonds), "
        f"{r.material.name}, {r.model.upper()} {r.dimension}D; {r.steps:,} iterations, "
        f"{'converged' if r.converged else 'NOT CONVERGED'}, {r.seconds:.1f} s",
        f"{at}max displacement {_fmt(r.max_displacement_mm, 'mm')}; max von Mises "
        f"{_fmt(r.max_von_mises_pa / 1e6, 'MPa')} (tensile strength {r.material.tensile_strength / 1e6:.4g} MPa)",
        f"{at}reaction at the supports "
        + ", ".join(f"{a} {v:.4g}" for a, v in zip("xyz", r.reaction_force_n, strict=True))
        + " N",
        f"{at}broken bonds {100 * r.broken_bond_fraction:.3g} %; pieces {r.fragments}",
    ]
    if r.test == "failure":
        if r.failure_load_factor is None:
            lines.append("no failure found within the load multiples tried")
        else:
            lines.append(
                f"failure: at {r.failure_load_factor:.3g} x the service load, "
                + (f"failure load {r.failure_load_n:.4g} N" if r.failure_load_n else "")
                + (f"failure torque {r.failure_torque_nm:.4g} N*m" if r.failure_torque_nm else "")
                + f"; safety factor {r.safety_factor:.3g}; failed state: {failed_pieces(r)} piece(s), "
                f"mean damage {r.damage.mean():.2g}"
            )
        lines += curve_lines(r)
    if r.test == "shear":
        lines.append(
            f"shear stiffness {_fmt(r.shear_stiffness_n_per_mm, 'N/mm')}; shear strength {_fmt(r.shear_strength_n, 'N')}"
        )
    warning = not_converged(r)
    if warning:
        lines.insert(1, warning)
    lines += [f"note: {n}" for n in r.notes if not (warning and n in warning)]
    if r.convergence is not None:
        lines += r.convergence.lines()
    return lines


def print_summary(report: StressReport, outputs: list[str] | None = None, timing: dict | None = None) -> None:
    """A rich table on stdout."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    r = report
    table = Table(title=f"{r.test} test", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("model", f"{r.model.upper()} {r.dimension}D, {r.material.name}")
    table.add_row("particles", f"{r.particles:,} at {r.pitch_mm:g} mm ({r.bonds:,} bonds)")
    table.add_row(
        "solver", f"{r.steps:,} iterations, {'converged' if r.converged else '[red]NOT CONVERGED[/red]'}"
    )
    at = " (service load)" if r.test == "failure" else ""  # a failure test's scalars are at the service load
    table.add_row(f"max displacement{at}", _fmt(r.max_displacement_mm, "mm"))
    table.add_row(
        f"max von Mises{at}",
        f"{_fmt(r.max_von_mises_pa / 1e6, 'MPa')} (tensile strength {r.material.tensile_strength / 1e6:.4g} MPa)",
    )
    table.add_row(
        f"reaction{at}", ", ".join(f"{a} {v:.4g}" for a, v in zip("xyz", r.reaction_force_n, strict=True)) + " N"
    )
    table.add_row(f"broken bonds{at}", f"{100 * r.broken_bond_fraction:.3g} % ({r.fragments} piece(s))")
    if r.test == "failure":
        table.add_row(
            "failure load",
            _fmt(r.failure_load_n, "N") if r.failure_torque_nm is None else _fmt(r.failure_torque_nm, "N*m"),
        )
        table.add_row("safety factor", "-" if r.safety_factor is None else f"{r.safety_factor:.3g}")
        if r.failure_load_factor is not None:
            table.add_row(
                "failed state", f"{failed_pieces(r)} piece(s), mean damage {r.damage.mean():.2g} (the picture)"
            )
        curve = curve_lines(r)
        if curve:
            table.add_row("load curve", "\n".join(line.strip() for line in curve[1:]))
    if r.test == "shear":
        table.add_row("shear stiffness", _fmt(r.shear_stiffness_n_per_mm, "N/mm"))
        table.add_row("shear strength", _fmt(r.shear_strength_n, "N"))
    warning = not_converged(r)
    if warning:
        table.add_row("[red]NOT CONVERGED[/red]", f"[red]{escape(warning.removeprefix('NOT CONVERGED: '))}[/red]")
    for note in (n for n in r.notes if not (warning and n in warning)):
        table.add_row("note", escape(note))  # notes name job-file keys such as [test] steps: not markup
    if r.convergence is not None:
        table.add_row("pitch study", escape("\n".join(line.strip() for line in r.convergence.lines())))
    if outputs:
        table.add_row("written", ", ".join(outputs))
    if timing:
        table.add_row(
            "seconds",
            ", ".join(f"{k} {v:.2f}" for k, v in timing.items() if k != "total")
            + f"; total {timing['total']:.2f}",
        )
    Console().print(table)
