"""Compile the numba kernels once, at install time (``make setup`` runs ``python -m fab.warm``).

Every kernel is ``cache=True``: numba writes the machine code beside the source (``__pycache__/*.nbi, *.nbc``)
keyed by the argument types, so a tiny run of each path with the types real runs use leaves the cache that
the user's first ``fab`` command loads instead of compiling (about a minute of CPU on a 2-core machine).
The runs: voxelizing a small mesh; static (LPS, PMB; 3D and plane), failure and impact tests of a small bar;
the slicer's kernels through an FDM export. The failure tests run as fab runs them, traced in float64 (fab/stress.py
failure_in_float64), so the float64 kernels are cached too; the kernels do not specialise on the dimension, so
plane failure tests load the same ones (tests/test_warm.py checks that they add none).
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def warm(verbose: bool = True) -> float:
    """Run each kernel path once on tiny inputs; returns the seconds it took."""
    import trimesh

    from fab.stress import stress_test
    from fab.voxels import VoxelGrid, voxelize

    start = time.perf_counter()
    mesh = trimesh.creation.box((6.0, 3.0, 3.0))
    mesh.apply_translation((3.0, 0.0, 0.0))
    voxelize(mesh, pitch=1.0)
    grid = VoxelGrid(np.ones((12, 4, 4), bool), 0.5, np.full(3, 0.25))
    # Only the compiled kernels matter here: a tiny run's NOT CONVERGED warning would only alarm the installer.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _stress_paths(stress_test, grid)
    _multigrid_transfers()
    try:
        from fab.export import export

        with tempfile.TemporaryDirectory() as folder:
            export(grid, gcode=str(Path(folder) / "warm.gcode"))
    except Exception as exc:  # noqa: BLE001 -- warming is best effort; the slicer compiles on first use then
        if verbose:
            print(f"fab.warm: slicer kernels not warmed ({exc})", file=sys.stderr)
    seconds = time.perf_counter() - start
    if verbose:
        print(f"fab.warm: numba kernels compiled and cached in {seconds:.1f} s", file=sys.stderr)
    return seconds


def _multigrid_transfers() -> None:
    """The multigrid transfers' kernels (bodies from 800 particles up; the tiny bar has no coarse level)."""
    from physics import multigrid

    transfer = multigrid.Transfer(np.zeros((1, 8), dtype=np.int64), np.full((1, 8), 0.125), 8.0)
    transfer.restrict(transfer.prolong(np.zeros((1, 3))), 1)


def _stress_paths(stress_test, grid) -> None:
    """Static (LPS, PMB; 3D and plane), failure (float64: fab's Newton trace) and impact tests of a tiny bar."""
    for model in ("lps", "pmb"):
        for dimension in (3, 2):
            stress_test(grid, material="Al6061-T6", fix="<X", load=">X:force=0,-20,0", model=model,
                        dimension=dimension)  # fmt: skip
    stress_test(grid, material="Glass", fix="<X", load=">X:force=50,0,0", model="lps", test="failure")
    stress_test(grid, material="Glass", fix="<X", load=">X:force=50,0,0", model="pmb", test="failure")
    stress_test(grid, material="PLA", fix="<X", load=">X:velocity=0,0,-1", model="pmb", test="impact",
                steps=20)  # fmt: skip


if __name__ == "__main__":
    warm()
