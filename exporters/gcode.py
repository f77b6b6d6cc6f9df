"""Marlin G-code from sliced toolpaths, with a print-time and filament estimate in the header.

Extrusion uses relative E (M83): each segment of length L on a layer of height h extrudes
E = A(w, h) L / (pi (d_f/2)^2) mm of filament, with the stadium bead cross-section
A = w h - h^2 (1 - pi/4) (REFERENCE section 5). Travels longer than the profile's ``retraction.min_travel``
retract first. The time estimate runs a Marlin-like planner over every move: per-axis jerk limits the
junction speeds, a backward and a forward pass make them reachable with the current acceleration
(M204 P for printing, T for travel), and each move is a trapezoid (or triangle) velocity profile.
Heating waits and the start/end blocks are not part of the estimate (PrusaSlicer counts them the same way
only when its start block has no moves). Units: mm, mm/s, mm/s^2; filament mass from g/cm^3.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numba
import numpy as np
import trimesh

from exporters.atomic import atomic_open
from exporters.errors import ExportError
from exporters.printers import PrinterProfile, load_printer
from exporters.slicer import Toolpaths, slice_mesh

SLICE_SETTINGS = frozenset(
    ("layer_height", "infill", "infill_pattern", "perimeters", "top_layers", "bottom_layers")
)
JERK_Z = 0.4  # mm/s; Marlin/Prusa MK3S defaults for the Z and E axes (the profile's jerk is for X and Y)
JERK_E = 4.5
MAX_Z_SPEED = 12.0  # mm/s; Marlin's default max Z feedrate on i3-style machines, used for layer changes

_ROLE_NAMES = {
    "external_perimeter": "External perimeter",
    "perimeter": "Perimeter",
    "solid_infill": "Solid infill",
    "top_solid_infill": "Top solid infill",
    "infill": "Internal infill",
}


@dataclasses.dataclass(frozen=True)
class GcodeSummary:
    """What a G-code file does: counts, estimate (s), filament (mm of strand, g, mm^3 of bead)."""

    path: str
    layers: int
    print_time_s: float
    filament_mm: float
    filament_g: float
    extruded_volume_mm3: float
    moves: int
    retractions: int
    travel_mm: float
    bbox_mm: tuple[tuple[float, float, float], tuple[float, float, float]]


def format_duration(seconds: float) -> str:
    """'1h 02m 03s' style duration."""
    s = int(round(seconds))
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


# ----------------------------------------------------------------------------------------------- estimate
@numba.njit(cache=True)
def _plan_time(dx, dy, dz, de, speed, accel, jerk, jerk_z=JERK_Z, jerk_e=JERK_E):
    """Seconds for a sequence of moves under a trapezoidal planner with classic (per-axis) jerk.

    dx..de: move deltas (mm); speed: nominal feedrate (mm/s); accel: acceleration (mm/s^2).
    Extruder-only moves (retractions) are timed along E and start and end at rest. jerk (X/Y), jerk_z and
    jerk_e are the largest instantaneous per-axis velocity changes (mm/s).
    """
    n = dx.size
    length = np.empty(n)
    ux = np.zeros(n)
    uy = np.zeros(n)
    uz = np.zeros(n)
    e_only = np.zeros(n, np.bool_)
    for i in range(n):
        L = math.sqrt(dx[i] ** 2 + dy[i] ** 2 + dz[i] ** 2)
        if L < 1e-9:
            e_only[i] = True
            L = abs(de[i])
        else:
            ux[i] = dx[i] / L
            uy[i] = dy[i] / L
            uz[i] = dz[i] / L
        length[i] = L
    # junction speeds, Marlin 1.x "classic jerk" as PrusaSlicer's estimator models it: per axis the
    # velocity may jump by at most its jerk (a reversal counts the larger side only); where the machine would
    # stop anyway it starts the move at its safe speed (every axis component within its jerk)
    ue = np.zeros(n)
    for i in range(n):
        if not e_only[i]:
            ue[i] = de[i] / length[i]
    jerks = (jerk, jerk, jerk_z, jerk_e)
    safe = np.zeros(n)
    for i in range(n):
        if e_only[i]:
            continue
        v = speed[i]
        s = v
        comps = (ux[i], uy[i], uz[i], ue[i])
        for k in range(4):
            c = abs(comps[k]) * v
            if c > jerks[k]:
                s = min(s, v * jerks[k] / c)
        safe[i] = s
    vj = np.empty(n)
    for i in range(n):
        if i == 0 or e_only[i] or e_only[i - 1]:
            vj[i] = safe[i]
            continue
        vp = speed[i - 1]
        vc = speed[i]
        prev_larger = vp > vc
        factor = vc / vp if prev_larger else vp / vc
        vmax = vc if prev_larger else vp
        vf = 1.0
        limited = False
        prev_c = (ux[i - 1], uy[i - 1], uz[i - 1], ue[i - 1])
        cur_c = (ux[i], uy[i], uz[i], ue[i])
        for k in range(4):
            v_exit = prev_c[k] * vp
            v_entry = cur_c[k] * vc
            if prev_larger:
                v_exit *= factor
            if limited:
                v_exit *= vf
                v_entry *= vf
            if v_exit > v_entry:
                j = (v_exit - v_entry) if (v_entry > 0.0 or v_exit < 0.0) else max(v_exit, -v_entry)
            else:
                j = (v_entry - v_exit) if (v_entry < 0.0 or v_exit > 0.0) else max(-v_exit, v_entry)
            if j > jerks[k]:
                vf *= jerks[k] / j
                limited = True
        if limited:
            vmax *= vf
        threshold = vmax * 0.99
        if safe[i - 1] > threshold and safe[i] > threshold:
            vmax = safe[i]
        vj[i] = vmax
    entry = vj.copy()
    # backward pass: each move must be able to slow down to the next entry
    nxt = 0.0
    for i in range(n - 1, -1, -1):
        exit_v = 0.0 if e_only[i] else nxt
        entry[i] = min(entry[i], math.sqrt(exit_v * exit_v + 2.0 * accel[i] * length[i]))
        nxt = entry[i]
    # forward pass and trapezoid times
    total = 0.0
    for i in range(n):
        u = entry[i]
        w = entry[i + 1] if i + 1 < n else 0.0
        if e_only[i] or (i + 1 < n and e_only[i + 1]):
            w = 0.0
        w = min(w, math.sqrt(u * u + 2.0 * accel[i] * length[i]))
        if i + 1 < n:
            entry[i + 1] = min(entry[i + 1], w) if not e_only[i + 1] else 0.0
        v = speed[i]
        a = accel[i]
        L = length[i]
        d_acc = (v * v - u * u) / (2.0 * a)
        d_dec = (v * v - w * w) / (2.0 * a)
        if d_acc + d_dec <= L:
            total += (v - u) / a + (v - w) / a + (L - d_acc - d_dec) / v
        else:
            vp = math.sqrt(max((2.0 * a * L + u * u + w * w) / 2.0, 0.0))
            total += max(vp - u, 0.0) / a + max(vp - w, 0.0) / a
    return total


# ----------------------------------------------------------------------------------------------- writer
class _Program:
    """G-code lines and, beside them, the move deltas the estimator needs."""

    def __init__(self, printer: PrinterProfile) -> None:
        self.p = printer
        self.lines: list[str] = []
        self.rows: list[tuple] = []  # one (dx, dy, dz, de, speed, accel) per move, for the estimator
        self.x = self.y = 0.0
        self.z = 0.0
        self.started = False
        self.retracted = False
        self.accel_print = printer.accel_default
        self.n_retract = 0
        self.travel_mm = 0.0

    def set_accel(self, accel: float) -> None:
        if accel != self.accel_print:
            self.accel_print = accel
            self.lines.append(f"M204 P{accel:g} T{self.p.travel_acceleration:g}")

    def _move_row(self, dx, dy, dz, de, speed, accel) -> None:
        self.rows.append((dx, dy, dz, de, speed, accel))

    def retract(self) -> None:
        p = self.p
        if p.retract_length > 0 and not self.retracted:
            self.lines.append(f"G1 E{-p.retract_length:.5f} F{p.retract_speed * 60:.0f}")
            self._move_row(0.0, 0.0, 0.0, -p.retract_length, p.retract_speed, p.travel_acceleration)
            self.retracted = True
            self.n_retract += 1

    def deretract(self) -> None:
        p = self.p
        if self.retracted:
            self.lines.append(f"G1 E{p.retract_length:.5f} F{p.retract_speed * 60:.0f}")
            self._move_row(0.0, 0.0, 0.0, p.retract_length, p.retract_speed, p.travel_acceleration)
            self.retracted = False

    def travel(self, x: float, y: float) -> None:
        dist = math.hypot(x - self.x, y - self.y)
        if self.started and dist < 1e-4:
            return
        p = self.p
        if dist > p.retract_min_travel or not self.started:
            self.retract()
        lift = p.retract_lift if self.retracted else 0.0
        if lift > 0:
            self.lines.append(f"G1 Z{self.z + lift:.3f} F{MAX_Z_SPEED * 60:.0f}")
            self._move_row(0.0, 0.0, lift, 0.0, MAX_Z_SPEED, p.travel_acceleration)
        self.lines.append(f"G1 X{x:.3f} Y{y:.3f} F{p.speed_travel * 60:.0f}")
        self._move_row(x - self.x, y - self.y, 0.0, 0.0, p.speed_travel, p.travel_acceleration)
        if lift > 0:
            self.lines.append(f"G1 Z{self.z:.3f} F{MAX_Z_SPEED * 60:.0f}")
            self._move_row(0.0, 0.0, -lift, 0.0, MAX_Z_SPEED, p.travel_acceleration)
        self.travel_mm += dist
        self.x, self.y = x, y
        self.started = True

    def layer_z(self, z: float) -> None:
        if self.p.retract_layer_change:
            self.retract()
        self.lines.append(f"G1 Z{z:.3f} F{min(self.p.speed_travel, MAX_Z_SPEED) * 60:.0f}")
        self._move_row(0.0, 0.0, z - self.z, 0.0, MAX_Z_SPEED, self.p.travel_acceleration)
        self.z = z

    def extrude(self, pts: list, e_per_mm: float, speed: float) -> float:
        """Extrude along pts[1:] from the current position (pts[0]); returns the path length (mm).

        A plain loop over Python floats: for 2-point infill lines it beats numpy's per-call overhead.
        """
        self.deretract()
        lines, rows, accel = self.lines, self.rows, self.accel_print
        feed = f" F{speed * 60:.0f}"
        x, y = self.x, self.y
        total = 0.0
        for nx, ny in pts[1:]:
            dx, dy = nx - x, ny - y
            length = math.hypot(dx, dy)
            if length < 1e-5:
                continue
            e = length * e_per_mm
            lines.append(f"G1 X{nx:.3f} Y{ny:.3f} E{e:.5f}{feed}")
            feed = ""
            rows.append((dx, dy, 0.0, e, speed, accel))
            x, y = nx, ny
            total += length
        self.x, self.y = x, y
        return total


def _fill_template(text: str, values: dict[str, float], which: str) -> str:
    try:
        return text.format_map(values)
    except (KeyError, ValueError, IndexError) as exc:
        raise ExportError(f"printer {which} G-code has an unknown placeholder {exc}") from None


def write_gcode(toolpaths: Toolpaths, path: str | os.PathLike[str], printer: PrinterProfile) -> GcodeSummary:
    """Write Marlin G-code for ``toolpaths`` to ``path`` (atomically) and return its summary."""
    p = printer
    if not toolpaths.layers or not any(layer.paths for layer in toolpaths.layers):
        raise ExportError(
            f"no toolpaths: the part is too small or thin for a {toolpaths.extrusion_width:g} mm bead"
        )
    prog = _Program(p)
    filament_area = p.filament_area_mm2
    volume = 0.0
    speeds = {
        "external_perimeter": p.speed_external_perimeter,
        "perimeter": p.speed_perimeter,
        "solid_infill": p.speed_solid_infill,
        "top_solid_infill": p.speed_top_solid_infill,
        "infill": p.speed_infill,
    }
    accels = {
        "external_perimeter": p.accel_perimeter,
        "perimeter": p.accel_perimeter,
        "solid_infill": p.accel_infill,
        "top_solid_infill": p.accel_infill,
        "infill": p.accel_infill,
    }
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    prog.lines.append(f"M204 P{p.accel_default:g} T{p.travel_acceleration:g}")
    prog.accel_print = p.accel_default
    for index, layer in enumerate(toolpaths.layers):
        first = index == 0
        prog.lines.append(f";LAYER_CHANGE\n;Z:{layer.z:.3f}\n;HEIGHT:{layer.height:.3f}")
        if index == 1:
            prog.lines.append(f"M104 S{p.nozzle_temp:g}\nM140 S{p.bed_temp:g}")
            if p.fan_percent > 0:
                prog.lines.append(f"M106 S{round(2.55 * p.fan_percent)}")
        prog.layer_z(layer.z)
        area = toolpaths.bead_area(layer.height)
        e_per_mm = area / filament_area
        role = None
        for ep in layer.paths:
            if ep.role != role:
                role = ep.role
                prog.lines.append(f";TYPE:{_ROLE_NAMES[role]}")
                prog.set_accel(p.accel_first_layer if first else accels[role])
            pts = ep.points.tolist()
            prog.travel(*pts[0])
            volume += area * prog.extrude(pts, e_per_mm, p.speed_first_layer if first else speeds[role])
        if layer.paths:
            xy = np.concatenate([ep.points for ep in layer.paths])
            lo = np.minimum(lo, [*xy.min(axis=0), layer.z - layer.height])
            hi = np.maximum(hi, [*xy.max(axis=0), layer.z])
    prog.retract()

    moves = np.array(prog.rows, dtype=np.float64)
    cols = [np.ascontiguousarray(moves[:, k]) for k in range(6)]
    est = float(_plan_time(*cols, float(p.jerk)))
    filament_mm = volume / filament_area
    filament_g = volume * p.filament_density / 1000.0
    values = dict(
        nozzle_temp=p.nozzle_temp,
        bed_temp=p.bed_temp,
        first_layer_nozzle_temp=p.first_layer_nozzle_temp,
        first_layer_bed_temp=p.first_layer_bed_temp,
        bed_x=p.bed_x,
        bed_y=p.bed_y,
        max_z=p.max_z,
        park_z=round(min(p.max_z, toolpaths.layers[-1].z + 10.0), 3),
    )
    start = _fill_template(p.start_gcode, values, "start").strip()
    end = _fill_template(p.end_gcode, values, "end").strip()
    s = toolpaths.settings
    off = toolpaths.offset_mm
    header = [
        "; generated by bits2atoms exporters.gcode (Marlin flavour, relative E)",
        f"; printer = {p.name}",
        f"; filament = {p.filament} (nozzle {p.nozzle_temp:g} C, first layer {p.first_layer_nozzle_temp:g} C; "
        f"bed {p.bed_temp:g} C, first layer {p.first_layer_bed_temp:g} C; fan {p.fan_percent:g} %; "
        f"{p.filament_density:g} g/cm^3)",
        f"; estimated printing time = {format_duration(est)} ({est:.0f} s, moves only, no heating)",
        f"; filament used [mm] = {filament_mm:.2f}",
        f"; filament used [g] = {filament_g:.2f}",
        f"; filament used [mm3] = {volume:.2f}",
        f"; layers = {len(toolpaths.layers)}, layer height = {s['layer_height']:g} mm, "
        f"first layer = {s['first_layer_height']:g} mm",
        f"; perimeters = {s['perimeters']}, infill = {s['infill'] * 100:g} % {s['infill_pattern']}, "
        f"top/bottom layers = {s['top_layers']}/{s['bottom_layers']}",
        f"; extrusion width = {toolpaths.extrusion_width:g} mm, nozzle = {p.nozzle_diameter:g} mm, "
        f"filament = {p.filament_diameter:g} mm",
        f"; part placed on the bed: dropped to z=0 and centred, offset = ({off[0]:.3f}, {off[1]:.3f}, {off[2]:.3f}) mm",
        "",
        "M82 ; absolute E for the start block" if "M83" not in start else "",
        start,
        # G90 before M83: Smoothieware-style firmware sets E absolute on G90 (PrusaSlicer's order).
        "G90 ; absolute coordinates",
        "M83 ; relative extrusion",
        "M107",
    ]
    try:
        with atomic_open(path, "w") as fh:
            fh.write("\n".join(header))
            fh.write("\n")
            fh.write("\n".join(prog.lines))
            fh.write("\n; end\n")
            fh.write(end)
            fh.write("\n")
    except OSError as exc:
        raise ExportError(f"cannot write G-code to {path}: {exc.strerror or exc}") from None
    return GcodeSummary(
        path=str(path),
        layers=len(toolpaths.layers),
        print_time_s=est,
        filament_mm=filament_mm,
        filament_g=filament_g,
        extruded_volume_mm3=volume,
        moves=len(moves),
        retractions=prog.n_retract,
        travel_mm=prog.travel_mm,
        bbox_mm=(tuple(float(v) for v in lo), tuple(float(v) for v in hi)),
    )


def export_gcode(
    mesh: trimesh.Trimesh,
    path: str | os.PathLike[str],
    printer: PrinterProfile | str | os.PathLike[str] | None = None,
    **settings,
) -> GcodeSummary:
    """Slice ``mesh`` (mm) for ``printer`` (profile, built-in name, TOML path or None for the default)
    and write Marlin G-code to ``path``. ``settings`` go to :func:`exporters.slicer.slice_mesh`."""
    profile = printer if isinstance(printer, PrinterProfile) else load_printer(printer)
    unknown = sorted(set(settings) - SLICE_SETTINGS)
    if unknown:
        raise ExportError(
            f"unknown slicer setting(s) {', '.join(unknown)} (known: {', '.join(sorted(SLICE_SETTINGS))})"
        )
    if not isinstance(mesh, trimesh.Trimesh):
        raise ExportError(f"expected a trimesh.Trimesh, got {type(mesh).__name__}")
    return write_gcode(slice_mesh(mesh, profile, **settings), path, profile)


def export(
    mesh: trimesh.Trimesh,
    path: str | os.PathLike[str],
    printer: PrinterProfile | str | os.PathLike[str] | None = None,
    slicer_settings: dict | None = None,
) -> dict:
    """The exporter entry point (exporters/__init__.py): slice and write; the summary as a dict."""
    from dataclasses import asdict

    return asdict(export_gcode(mesh, path, printer, **(slicer_settings or {})))
