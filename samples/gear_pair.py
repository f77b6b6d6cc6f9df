"""A meshing pair of spur gears, a stress test of a pinion tooth, and the files to print and cut them.

The pinion (``teeth_pinion``) drives the wheel (``teeth_wheel``) at the standard centre distance
m (z1 + z2) / 2. The script prints the pair's contact ratio, stress-tests the pinion (held at its bore,
one tooth pushed tangentially by the force that carries ``torque_nm``) and compares the peak
stress with the Lewis bending stress, then writes an STL of each gear, G-code to print the pinion and
laser-cutting G-code, a DXF and an SVG for the wheel.

    python samples/gear_pair.py [--small] [--pitch MM] [--out DIR]

``--small`` (or ``BITS2ATOMS_SMALL=1``) runs a coarse, quick version (tests use it). In CQ-editor the pair
is shown with ``show_object``; set ``simulate = False`` to only build it.
"""

import os

import cadquery as cq
import numpy as np

import cad_plugins  # adds spur_gear, stress_test, export_stl, ... to cq.Workplane

# Parameters (mm, degrees, N*m): top-level constants, so cqgi and CQ-editor can override them.
module = 2.0
teeth_pinion = 18
teeth_wheel = 30
width = 6.0
pressure_angle = 20.0
bore = 8.0
torque_nm = 1.0  # on the pinion
material = "PLA"
pitch = 0.5  # lattice spacing of the stress test, mm
model = "lps"
steps = 0  # cap on solver iterations (0: until converged)
printer = "prusa_mk3s"
laser = "laser-co2-3mm-plywood"
out_dir = "out"
simulate = True  # run the stress test and write the files (False: only build and show the pair)
small = False  # coarse and quick: --small or BITS2ATOMS_SMALL=1 also set it

if __name__ == "__main__":
    import argparse

    cli = argparse.ArgumentParser(description="Build a gear pair, stress-test a tooth, write its files.")
    cli.add_argument("--small", action="store_true", help="coarse, quick run (a few seconds of physics)")
    cli.add_argument("--out", default=out_dir, help=f"folder for the files (default {out_dir})")
    cli.add_argument(
        "--pitch", type=float, default=pitch, help=f"stress-test lattice, mm (default {pitch:g})"
    )
    args = cli.parse_args()
    small, out_dir, pitch = small or args.small, args.out, args.pitch
if small or os.environ.get("BITS2ATOMS_SMALL", "0") not in ("", "0"):
    pitch, steps, width = 1.0, 600, 3.0

# Both gears lie on z = 0..width with their axes along z; tooth 0 of each is centred on its local +x.
# The wheel sits at +x and is turned half a tooth so that a gap faces the pinion's tooth 0.
center_distance = module * (teeth_pinion + teeth_wheel) / 2
pinion = cq.Workplane("XY").spur_gear(module, teeth_pinion, width, pressure_angle=pressure_angle, bore=bore)
wheel = (
    cq.Workplane("XY")
    .spur_gear(module, teeth_wheel, width, pressure_angle=pressure_angle, bore=bore)
    .rotate((0, 0, 0), (0, 0, 1), 180 + 180 / teeth_wheel)
    .translate((center_distance, 0, 0))
)
ratio = cad_plugins.contact_ratio(module, teeth_pinion, teeth_wheel, pressure_angle)

if "show_object" not in globals():  # plain Python: nothing to show in, the files are the output

    def show_object(obj, name=None, options=None):  # noqa: ANN001, ANN201, ARG001
        pass


def lewis_y(teeth: int) -> float:
    """Lewis form factor of 20-degree full-depth teeth, interpolated in 1/z (REFERENCE.md section 4)."""
    table = {12: 0.245, 14: 0.277, 17: 0.303, 20: 0.322, 24: 0.337, 30: 0.359, 50: 0.409, 100: 0.447}
    inverse = [0.0] + [1 / z for z in reversed(table)]  # 1/z = 0 is the rack
    return float(np.interp(1 / teeth, inverse, [0.485] + list(reversed(table.values()))))


def run(out: str) -> dict:
    """Stress test of a pinion tooth, then the fabrication files. Returns what it wrote."""
    os.makedirs(out, exist_ok=True)
    r_pitch = module * teeth_pinion / 2
    tangential_n = torque_nm * 1000 / r_pitch  # W_t = T / r (N, with T in N*mm)
    # Tooth 0 of the pinion, from the pitch circle out, pushed in -y (the wheel driven clockwise seen
    # from +z pushes back on it that way); the bore is held. Regions are in mm.
    tooth = f"hypot(x, y) > {r_pitch:g} and abs(y) < {module:g} and x > 0"
    held = f"hypot(x, y) < {bore / 2 + 1.5 * pitch:g}"
    report = pinion.stress_test(
        material,
        pitch=pitch,
        fix=held,
        load=tooth,
        force=(0, -tangential_n, 0),
        model=model,
        steps=steps or None,
        progress=not small,
    )
    lewis_mpa = tangential_n / (width * module * lewis_y(teeth_pinion))
    print(f"gear pair: {teeth_pinion}/{teeth_wheel} teeth, module {module:g}, contact ratio {ratio:.3f}")
    print(report.summary())
    print(
        f"tooth load {tangential_n:.1f} N: Lewis root bending stress {lewis_mpa:.1f} MPa, "
        f"peridynamics peak von Mises {report.max_von_mises_pa / 1e6:.1f} MPa"
    )
    files = {
        "png": os.path.join(out, "pinion_stress.png"),
        "pinion_stl": os.path.join(out, "pinion.stl"),
        "wheel_stl": os.path.join(out, "wheel.stl"),
        "pinion_gcode": os.path.join(out, "pinion.gcode"),
        "wheel_cnc": os.path.join(out, "wheel.nc"),
        "wheel_dxf": os.path.join(out, "wheel.dxf"),
        "wheel_svg": os.path.join(out, "wheel.svg"),
    }
    report.save_png(files["png"])
    figures: dict = {}
    pinion.export_stl(files["pinion_stl"]).export_gcode(
        files["pinion_gcode"], printer=printer, infill=0.4, perimeters=3, summary=figures
    )
    wheel.export_stl(files["wheel_stl"]).export_cnc(
        files["wheel_cnc"], tool=laser, dxf=files["wheel_dxf"], svg=files["wheel_svg"], summary=figures
    )
    gcode, cnc = figures["gcode"], figures["cnc"]
    print(f"pinion print: {gcode['layers']} layers, about {gcode['print_time_s'] / 60:.0f} min on {printer}")
    print(f"wheel laser cut: {cnc['cut_length_mm']:.0f} mm of cut, about {cnc['estimated_time_s']:.0f} s")
    print("wrote " + ", ".join(files.values()))
    return {"report": report, "files": files, "figures": figures, "lewis_mpa": lewis_mpa}


result = pinion
show_object(pinion, name="pinion")
show_object(wheel, name="wheel")
if simulate and __name__ != "__cqgi__":  # cqgi (fab convert) only wants the part
    outputs = run(out_dir)
