"""Stress-test a wall bracket from inside a CadQuery script, then write the files that make it.

The bracket is bolted to a wall by its upright (held at the back face, x = 0) and carries ``load_n``
newtons pressing down on the free end of its base. The script builds it, stress-tests it in ``material``,
prints the summary, renders the stress to a PNG and writes an STL, FDM G-code and a voxel assembly plan.

    python samples/bracket_stress.py [--small] [--pitch MM] [--steps N] [--out DIR]

``--small`` (or the environment variable ``BITS2ATOMS_SMALL=1``) runs a quicker version (a coarse assembly
plan; tests use it). In CQ-editor the top-level parameters below can be changed and the bracket is shown with
``show_object``; the files go to ``out_dir`` (relative to the working directory).
"""

import os

import cadquery as cq

import cad_plugins  # noqa: F401  (adds stress_test, export_stl, export_gcode, ... to cq.Workplane)

# Parameters (mm, N): top-level constants, so cqgi and CQ-editor can override them.
length = 60.0  # base, along x (including the upright's thickness)
width = 30.0  # along y
height = 40.0  # upright, along z (including the base's thickness)
thickness = 5.0
fillet_radius = 6.0  # inside corner between base and upright
hole_diameter = 6.0
material = "PLA"
load_n = 40.0  # pressing down on the free end of the base
pitch = 2.0  # lattice spacing of the stress test, mm (1 mm: 8x the particles; docs/tutorial.md compares them)
model = "lps"  # force law: lps (any Poisson ratio) or pmb
steps = 0  # cap on solver iterations (0: until converged)
printer = "prusa_mk3s"
assembly_pitch = 2.5  # voxel size of the robot assembly plan, mm
out_dir = "out"
simulate = True  # run the stress test and write the files (False: only build and show the part)
small = False  # quick: --small or BITS2ATOMS_SMALL=1 also set it

if __name__ == "__main__":
    import argparse

    cli = argparse.ArgumentParser(description="Stress-test a bracket and write its fabrication files.")
    cli.add_argument("--small", action="store_true", help="quick run (coarse assembly plan)")
    cli.add_argument("--out", default=out_dir, help=f"folder for the files (default {out_dir})")
    cli.add_argument(
        "--pitch", type=float, default=pitch, help=f"stress-test lattice, mm (default {pitch:g})"
    )
    cli.add_argument("--steps", type=int, default=steps, help="cap on solver iterations (default: until converged)")
    args = cli.parse_args()
    small, out_dir, pitch, steps = small or args.small, args.out, args.pitch, args.steps
if small or os.environ.get("BITS2ATOMS_SMALL", "0") not in ("", "0"):
    # The stress test stays at 2 mm: at 2.5 mm the 5 mm plates are two particles thick, too stiff in bending
    # and slow to converge; the coarse assembly plan is what saves the time.
    assembly_pitch = 5.0

# The part: base plate along +x on z = 0, upright at x = 0..thickness, a filleted inside corner, two bolt
# holes in each leg.
bracket = (
    cq.Workplane("XY")
    .box(length, width, thickness, centered=(False, True, False))
    .union(cq.Workplane("XY").box(thickness, width, height, centered=(False, True, False)))
    .edges("|Y")
    .edges(cq.selectors.NearestToPointSelector((thickness, 0, thickness)))
    .fillet(fillet_radius)
)
base_x = (thickness + fillet_radius + length) / 2  # between the inside fillet and the free end
upright_z = (thickness + fillet_radius + height) / 2
bolts_y = [-width / 4, width / 4]
base_holes = (
    cq.Workplane("XY").pushPoints([(base_x, y) for y in bolts_y]).circle(hole_diameter / 2).extrude(thickness)
)
upright_holes = (  # the YZ workplane's local (x, y) is global (y, z); it extrudes along +x
    cq.Workplane("YZ")
    .pushPoints([(y, upright_z) for y in bolts_y])
    .circle(hole_diameter / 2)
    .extrude(thickness)
)
bracket = bracket.cut(base_holes).cut(upright_holes)

if "show_object" not in globals():  # plain Python: nothing to show in, the files are the output

    def show_object(obj, name=None, options=None):  # noqa: ANN001, ANN201, ARG001
        pass


def run(part: cq.Workplane, out: str) -> dict:
    """The pipeline from the script: stress test, picture, fabrication files. Returns what it wrote."""
    os.makedirs(out, exist_ok=True)
    report = part.stress_test(
        material,
        pitch=pitch,
        fix="<X",
        load=">X",
        force=(0, 0, -load_n),
        model=model,
        steps=steps or None,
        progress=not small,
        # A NOT CONVERGED line names the setting to raise: the flag from a shell, the parameter in CQ-editor.
        steps_setting="--steps" if __name__ == "__main__" else "steps (the script's parameter)",
    )
    print(report.summary())
    files = {"png": os.path.join(out, "bracket_stress.png")}
    report.save_png(files["png"])
    figures: dict = {}
    files.update(
        stl=os.path.join(out, "bracket.stl"),
        gcode=os.path.join(out, "bracket.gcode"),
        assembly=os.path.join(out, "bracket_assembly.json"),
    )
    (
        part.export_stl(files["stl"], summary=figures)
        .export_gcode(
            files["gcode"], printer=printer, material=material, infill=0.3, perimeters=3, summary=figures
        )
        .export_assembly(files["assembly"], pitch=assembly_pitch, summary=figures)
    )
    gcode, plan = figures["gcode"], figures["assembly"]
    print(
        f"print: {gcode['layers']} layers, {gcode['filament_g']:.1f} g of filament, "
        f"about {gcode['print_time_s'] / 60:.0f} min on {printer}"
    )
    print(f"robot assembly: {plan['placements']} voxels of {assembly_pitch:g} mm in {plan['layers']} layers")
    print("wrote " + ", ".join(files.values()))
    return {"report": report, "files": files, "figures": figures}


result = bracket
show_object(bracket, name="bracket")
if simulate and __name__ != "__cqgi__":  # cqgi (fab convert) only wants the part
    outputs = run(bracket, out_dir)
