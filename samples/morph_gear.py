"""Grow a spur gear by morphogenesis from inside a CadQuery script, compare it with the involute, make it.

``Workplane.morph("gear", ...)`` searches over the gear's cutting process (a rack-like cutter rolled
against a blank; nothing in it knows the involute), scores each grown gear by how it meshes with a copy
of itself and how strong its teeth are in the particle engine, and puts the best gear on the workplane.
The script prints the grown gear's figures beside the involute's, writes the search's report (convergence,
profile against the best-fit involute, transmission error; see docs/morphogenesis.md) into ``out_dir``/morph,
and an STL and G-code of the grown gear.

    python samples/morph_gear.py [--small] [--out DIR]

``--small`` (or ``BITS2ATOMS_SMALL=1``) runs one tiny generation at coarse resolution (tests use it). In
CQ-editor the grown gear and the involute gear are shown side by side; set ``simulate = False`` to show
only the involute gear without searching.
"""

import os

import cadquery as cq

import cad_plugins  # noqa: F401  (adds morph, spur_gear, export_stl, ... to cq.Workplane)

# Parameters (mm, N*m): top-level constants, so cqgi and CQ-editor can override them.
module = 2.0
teeth = 20
face_width = 6.0
bore = 8.0
torque_nm = 2.0
material = "PLA"
generations = 8
population = 8
seed = 1
printer = "prusa_mk3s"
out_dir = "out"
simulate = True  # run the search and write the files (False: only show the involute reference)
small = False  # one tiny, coarse generation: --small or BITS2ATOMS_SMALL=1 also set it

if __name__ == "__main__":
    import argparse

    cli = argparse.ArgumentParser(description="Grow a spur gear by morphogenesis and write its files.")
    cli.add_argument("--small", action="store_true", help="one tiny, coarse generation (tests)")
    cli.add_argument("--out", default=out_dir, help=f"folder for the files (default {out_dir})")
    args = cli.parse_args()
    small, out_dir = small or args.small, args.out
# Resolution of the search (docs/morphogenesis.md): the defaults, or the coarsest that still runs.
resolution = {}
if small or os.environ.get("BITS2ATOMS_SMALL", "0") not in ("", "0"):
    teeth, face_width, generations, population = 14, 4.0, 1, 4
    resolution = dict(roll_steps=100, fine_roll_steps=200, mesh_samples=8, relax_steps=100, spacing=0.25)
    resolution.update(fine_spacing=0.25, rescore_top=0, workers=1)

involute = cq.Workplane("XY").spur_gear(module, teeth, face_width, bore=bore)

if "show_object" not in globals():  # plain Python: nothing to show in, the files are the output

    def show_object(obj, name=None, options=None):  # noqa: ANN001, ANN201, ARG001
        pass


def run(out: str) -> dict:
    """The search, then the grown gear's files. Returns the gear, the search summary and the files."""
    summary: dict = {}
    grown = cq.Workplane("XY").morph(
        "gear",
        module=module,
        teeth=teeth,
        face_width=face_width,
        bore=bore,
        torque=torque_nm,
        material=material,
        generations=generations,
        population=population,
        seed=seed,
        output=os.path.join(out, "morph"),
        summary=summary,
        progress=not small,
        **resolution,
    )
    files = {"stl": os.path.join(out, "grown_gear.stl"), "gcode": os.path.join(out, "grown_gear.gcode")}
    grown.export_stl(files["stl"]).export_gcode(files["gcode"], printer=printer, infill=0.4, perimeters=3)
    best = summary["best"]

    def fig(key: str, spec: str, source: dict = summary) -> str:  # "-" where the search has no figure
        value = source.get(key)
        return "-" if value is None else format(value, spec)

    print(
        f"grown gear: {summary['generations']} generations, {summary['evaluations']} designs, "
        f"best score {fig('score', '.4g', best)}"
    )
    print(
        f"loaded transmission error {fig('transmission_error_rad', '.3e')} rad "
        f"(involute: {fig('reference_transmission_error_rad', '.3e')}); contact ratio "
        f"{fig('contact_ratio', '.3f')} (involute: {fig('reference_contact_ratio', '.3f')})"
    )
    print(
        f"flank vs best-fit involute: {fig('involute_deviation_pct_module', '.2f')} % of the module, "
        f"pressure angle {fig('pressure_angle_deg', '.1f')} deg; root stress {fig('root_stress_mpa', '.1f', best)} MPa"
    )
    print(
        f"volume {grown.val().Volume():.0f} mm^3 (involute {involute.val().Volume():.0f} mm^3); "
        f"report in {summary['outputs'].get('summary', out)}"
    )
    print("wrote " + ", ".join(files.values()))
    return {"gear": grown, "summary": summary, "files": files}


result = involute
show_object(involute, name="involute gear", options={"alpha": 0.5})
if simulate and __name__ != "__cqgi__":  # cqgi (fab convert) only wants the part
    outputs = run(out_dir)
    result = outputs["gear"]
    show_object(result.translate((module * (teeth + 4), 0, 0)), name="grown gear")
