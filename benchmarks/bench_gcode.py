"""Our slicer (exporters.gcode) against PrusaSlicer's CLI on the same STL and settings.

Prints, per part: triangles, part volume, slicing time, extruded volume and print-time estimate of each,
and our/Prusa ratios. Timing, the same way on both sides: each slicer as a whole fresh process (read the STL,
slice, write the G-code, exit), best of the repeats; that ratio is the only time ratio printed. PrusaSlicer
has no in-process interface (Debian ships only its executable), so the in-process figure is ours alone
(after a warm-up run, labelled as such); beside it, PrusaSlicer's process time less its start-up
(``prusa-slicer --help``), an estimate of its slicing work, also labelled. Start-ups are printed: ours carries
about 1 s of Python start-up (importing numpy, numba, trimesh, shapely and loading the numba cache),
PrusaSlicer about 0.1 s. Run:

    .venv/bin/python benchmarks/bench_gcode.py [--json] [--repeat 3] [--parts plate,bracket,torus]

PrusaSlicer (Debian ``prusa-slicer``, 2.5) is run headless with a config written from our printer profile
(classic perimeters, no skirt/brim/gap fill/cooling slowdown/thick bridges, same widths, speeds and
accelerations, per-feature M204), so both slicers get the same job. The part is centred on the bed by both.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import manifold3d
import numpy as np
import trimesh

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from exporters.gcode import export_gcode  # noqa: E402
from exporters.printers import PrinterProfile, load_printer  # noqa: E402


def plate() -> trimesh.Trimesh:
    """50 x 38 x 4 mm plate: 7,600 mm^3."""
    return trimesh.creation.box((50.0, 38.0, 4.0))


def bracket() -> trimesh.Trimesh:
    """samples/bracket.py (L-bracket, three bolt holes, filleted corner) tessellated at 0.01 mm."""
    from fab.part import load_part

    return load_part(REPO / "samples" / "bracket.py").mesh


def torus() -> trimesh.Trimesh:
    """A manifold3d torus (R 20 mm, r 6 mm) with about 100k triangles."""
    circle = manifold3d.CrossSection.circle(6.0, 224).translate((20.0, 0.0))
    m = manifold3d.Manifold.revolve(circle, 224).to_mesh()
    return trimesh.Trimesh(np.asarray(m.vert_properties)[:, :3], np.asarray(m.tri_verts), process=False)


PARTS = {
    "plate": (plate, dict(infill=1.0)),
    "bracket": (bracket, dict(infill=0.2)),
    "torus": (torus, dict(infill=0.2, infill_pattern="grid")),
}


def prusa_config(p: PrinterProfile, settings: dict) -> str:
    """A PrusaSlicer .ini for the same printer, filament and slicing settings."""
    w = p.extrusion_width
    keys = {
        "bed_shape": f"0x0,{p.bed_x:g}x0,{p.bed_x:g}x{p.bed_y:g},0x{p.bed_y:g}",
        "max_print_height": p.max_z,
        "nozzle_diameter": p.nozzle_diameter,
        "filament_diameter": p.filament_diameter,
        "filament_density": p.filament_density,
        "layer_height": settings.get("layer_height") or p.layer_height,
        "first_layer_height": p.first_layer_height,
        **{
            f"{k}extrusion_width": w
            for k in (
                "",
                "first_layer_",
                "perimeter_",
                "external_perimeter_",
                "infill_",
                "solid_infill_",
                "top_infill_",
            )
        },
        "perimeters": settings.get("perimeters", 2),
        "top_solid_layers": settings.get("top_layers", 4),
        "bottom_solid_layers": settings.get("bottom_layers", 4),
        "fill_density": f"{settings.get('infill', 0.2) * 100:g}%",
        "fill_pattern": settings.get("infill_pattern", "rectilinear"),
        "top_fill_pattern": "rectilinear",
        "bottom_fill_pattern": "rectilinear",
        "fill_angle": 45,
        "perimeter_generator": "classic",
        "gcode_flavor": "marlin",
        "use_relative_e_distances": 1,
        "layer_gcode": "G92 E0",
        "skirts": 0,
        "brim_width": 0,
        "cooling": 0,
        "fan_always_on": 0,
        "slowdown_below_layer_time": 0,
        "max_volumetric_speed": 0,
        "thin_walls": 0,
        "gap_fill_enabled": 0,
        "ensure_vertical_shell_thickness": 0,
        "solid_infill_below_area": 0,
        "thick_bridges": 0,
        "perimeter_speed": p.speed_perimeter,
        "small_perimeter_speed": p.speed_perimeter,
        "external_perimeter_speed": p.speed_external_perimeter,
        "infill_speed": p.speed_infill,
        "solid_infill_speed": p.speed_solid_infill,
        "top_solid_infill_speed": p.speed_top_solid_infill,
        "bridge_speed": p.speed_solid_infill,
        "gap_fill_speed": p.speed_perimeter,
        "first_layer_speed": p.speed_first_layer,
        "travel_speed": p.speed_travel,
        "perimeter_acceleration": p.accel_perimeter,
        "infill_acceleration": p.accel_infill,
        "first_layer_acceleration": p.accel_first_layer,
        "bridge_acceleration": p.accel_infill,
        "default_acceleration": p.accel_default,
        "machine_limits_usage": "time_estimate_only",
        "machine_max_acceleration_extruding": p.max_acceleration,
        "machine_max_acceleration_retracting": p.max_acceleration,
        "machine_max_acceleration_travel": p.travel_acceleration,
        "machine_max_acceleration_x": p.max_acceleration,
        "machine_max_acceleration_y": p.max_acceleration,
        "machine_max_jerk_x": p.jerk,
        "machine_max_jerk_y": p.jerk,
        "machine_max_jerk_z": 0.4,
        "machine_max_jerk_e": 4.5,
        "machine_max_feedrate_x": 500,
        "machine_max_feedrate_y": 500,
        "machine_max_feedrate_z": 12,
        "machine_max_feedrate_e": 120,
        "retract_length": p.retract_length,
        "retract_speed": p.retract_speed,
        "retract_before_travel": p.retract_min_travel,
        "retract_lift": p.retract_lift,
        "retract_layer_change": int(p.retract_layer_change),
        "wipe": 0,
        "start_gcode": "G90\\nM83",
        "end_gcode": "",
    }
    return "\n".join(f"{k} = {v}" for k, v in keys.items()) + "\n"


_DURATION = re.compile(r"(?:(\d+)d\s*)?(?:(\d+)h\s*)?(?:(\d+)m\s*)?(?:(\d+)s)?")


def parse_duration(text: str) -> float:
    d, h, m, s = (int(g) if g else 0 for g in _DURATION.fullmatch(text.strip()).groups())
    return float(((d * 24 + h) * 60 + m) * 60 + s)


def run_prusa(exe: str, stl: Path, ini: Path, out: Path, bed_centre: tuple[float, float]) -> dict:
    cmd = [exe, "--export-gcode", "--load", str(ini), "--center", f"{bed_centre[0]:g},{bed_centre[1]:g}"]
    cmd += ["-o", str(out), str(stl)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if res.returncode != 0 or not out.exists():
        raise RuntimeError(f"prusa-slicer failed: {res.stderr.strip().splitlines()[-1:]}")
    text = out.read_text()
    mm = float(re.search(r"; filament used \[mm\] = ([\d.]+)", text).group(1))
    est = parse_duration(re.search(r"; estimated printing time \(normal mode\) = (.+)", text).group(1))
    return dict(time_s=dt, filament_mm=mm, print_time_s=est)


def startup_seconds(cmd: list[str], repeat: int) -> float:
    """Best-of-``repeat`` wall time of a command that starts the program and exits (its fixed start-up)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def run_ours_subprocess(stl: Path, out: Path, settings: dict) -> float:
    """Wall time of a fresh Python process that loads the STL and writes G-code (numba cache warm)."""
    code = (
        "import sys, trimesh; sys.path.insert(0, sys.argv[1]);"
        "from exporters.gcode import export_gcode;"
        f"export_gcode(trimesh.load(sys.argv[2]), sys.argv[3], **{settings!r})"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(REPO), str(stl), str(out)], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (best is reported)")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset of " + ",".join(PARTS))
    ap.add_argument("--printer", default="prusa_mk3s")
    args = ap.parse_args()
    exe = shutil.which("prusa-slicer")
    if exe is None:
        sys.exit("prusa-slicer not found: apt-get install -y prusa-slicer")
    printer = load_printer(args.printer)
    area = np.pi * (printer.filament_diameter / 2.0) ** 2
    prusa_startup = startup_seconds([exe, "--help"], args.repeat)
    ours_startup = startup_seconds(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(REPO)!r}); import trimesh, exporters.gcode",
        ],
        args.repeat,
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.parts.split(","):
            make, settings = PARTS[name]
            mesh = make()
            stl = tmp / f"{name}.stl"
            mesh.export(stl)
            mesh = trimesh.load(stl)  # both slicers read the same STL
            ini = tmp / f"{name}.ini"
            ini.write_text(prusa_config(printer, settings))
            ours_gc = tmp / f"{name}_ours.gcode"
            export_gcode(mesh, ours_gc, printer, **settings)  # warm-up (numba cache, imports)
            ours_t, prusa_t, sub_t = [], [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                summary = export_gcode(trimesh.load(stl), ours_gc, printer, **settings)
                ours_t.append(time.perf_counter() - t0)
                prusa = run_prusa(
                    exe, stl, ini, tmp / f"{name}_prusa.gcode", (printer.bed_x / 2, printer.bed_y / 2)
                )
                prusa_t.append(prusa["time_s"])
                sub_t.append(run_ours_subprocess(stl, tmp / f"{name}_sub.gcode", settings))
            prusa_vol = prusa["filament_mm"] * area
            rows.append(
                dict(
                    part=name,
                    triangles=len(mesh.faces),
                    part_volume_mm3=float(mesh.volume),
                    settings=settings,
                    layers=summary.layers,
                    ours_slice_s=min(ours_t),
                    ours_process_s=min(sub_t),
                    prusa_process_s=min(prusa_t),
                    ours_volume_mm3=summary.extruded_volume_mm3,
                    prusa_volume_mm3=prusa_vol,
                    ours_print_time_s=summary.print_time_s,
                    prusa_print_time_s=prusa["print_time_s"],
                    volume_ratio=summary.extruded_volume_mm3 / prusa_vol,
                    print_time_ratio=summary.print_time_s / prusa["print_time_s"],
                    prusa_slice_estimate_s=max(min(prusa_t) - prusa_startup, 1e-3),
                    process_time_ratio=min(sub_t) / min(prusa_t),
                )
            )
    if args.json:
        out = dict(
            printer=printer.name,
            repeat=args.repeat,
            ours_startup_s=ours_startup,
            prusa_startup_s=prusa_startup,
            parts=rows,
        )
        print(json.dumps(out, indent=2))
        return
    head = (
        f"{'part':8} {'tris':>7} {'V part':>8} | {'ours proc':>9} {'prusa proc':>10} {'ratio':>5} | "
        f"{'ours in-proc':>12} {'prusa est.':>10} | "
        f"{'V ours':>8} {'V prusa':>8} {'ratio':>6} | {'t ours':>7} {'t prusa':>7} {'ratio':>6}"
    )
    print(f"printer {printer.name}; times: best of {args.repeat}, s; V in mm^3, t = estimated print time in s")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['part']:8} {r['triangles']:7d} {r['part_volume_mm3']:8.0f} | {r['ours_process_s']:9.3f} "
            f"{r['prusa_process_s']:10.3f} {r['process_time_ratio']:5.2f} | {r['ours_slice_s']:12.3f} "
            f"{r['prusa_slice_estimate_s']:10.3f} | "
            f"{r['ours_volume_mm3']:8.0f} {r['prusa_volume_mm3']:8.0f} {r['volume_ratio']:6.3f} | "
            f"{r['ours_print_time_s']:7.0f} {r['prusa_print_time_s']:7.0f} {r['print_time_ratio']:6.3f}"
        )
    print(
        "ratio = ours / PrusaSlicer. proc = a whole fresh process each (the same timing on both sides; ours starts "
        f"up in {ours_startup:.3f} s, PrusaSlicer in {prusa_startup:.3f} s). in-proc = ours inside this process "
        "after a warm-up (PrusaSlicer has no in-process interface); prusa est. = its process time less its "
        "start-up (an estimate, not a measurement of the same kind)"
    )


if __name__ == "__main__":
    main()
