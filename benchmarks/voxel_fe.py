"""An independent judge of voxel designs: CalculiX (``ccx``) linear statics on one C3D8I hexahedron per voxel.

    from voxel_fe import solve, extrude
    res = solve(occupancy, pitch=1.0, youngs_modulus=3.5e9, poisson_ratio=0.35,
                fixed=support_mask, voxel_forces=forces)          # forces (nx, ny, nz, 3) N per voxel
    res.compliance_nmm, res.max_von_mises_pa, res.max_displacement_mm

Neither the particle engine nor SIMP's Q4 elements are involved, so a design optimised against either one is
judged by a model it never saw. C3D8I (incompatible modes) bends without shear locking even one element thick,
which matters for thin members and for 2D designs extruded one voxel deep (``extrude``).

Mesh: voxel (i, j, k) of the occupancy spans origin + [i, i + 1] x [j, j + 1] x [k, k + 1] * pitch; voxels that
touch share their nodes (faces, edges and corners), so the mesh is conforming. Only nodes of occupied voxels
exist. Material no support reaches (even through shared corners) is counted in ``detached_voxels``. Loads
and supports:

- ``fixed``: a bool mask over the voxels (every node of those voxels held in x, y, z), or over the nodes
  (shape + 1 on every axis); only nodes of occupied voxels count, and there must be some.
- ``voxel_forces``: (nx, ny, nz, 3) N on each voxel, shared equally by its 8 nodes; ``nodal_forces``:
  (nx + 1, ny + 1, nz + 1, 3) N on the nodes. Force on an empty voxel or a node no voxel uses is an error.

Results: displacements (mm) at every mesh node, compliance f . u (N mm = mJ), the largest von Mises stress
over all integration points (Pa), and the support reactions, checked against the applied loads. ccx failing,
printing an error or returning no results raises ``VoxelFEError`` (a benchmark reports it as an error, never a
score).

Units: geometry in mm, E in Pa (converted once to N/mm^2 for ccx), forces in N; stresses come back in Pa.
Needs Debian's ``calculix-ccx`` (``make peers``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

PA_PER_MPA = 1e6


class VoxelFEError(RuntimeError):
    """CalculiX could not give a result for this model (missing, failed, unbalanced or bad input)."""


@dataclass(frozen=True)
class FEResult:
    nodes: np.ndarray  # (m, 3) mm, coordinates of the mesh nodes
    node_ijk: np.ndarray  # (m, 3) int, each node's lattice index
    displacement: np.ndarray  # (m, 3) mm
    compliance_nmm: float  # f . u, N mm
    max_von_mises_pa: float  # over every integration point of every element
    max_displacement_mm: float
    reaction_n: np.ndarray  # (3,) N, sum of the support reactions (balances the applied load)
    elements: int
    detached_voxels: int  # voxels sharing no node, even through others, with a held voxel (they carry nothing)
    seconds: float  # wall time of ccx itself

    def displacement_at(self, ijk: np.ndarray) -> np.ndarray:
        """(k, 3) mm displacements at lattice nodes ``ijk`` (k, 3) (each must be a mesh node)."""
        lookup = {tuple(n): r for r, n in enumerate(self.node_ijk.tolist())}
        try:
            rows = [lookup[tuple(int(v) for v in n)] for n in np.atleast_2d(ijk)]
        except KeyError as exc:
            raise VoxelFEError(f"node {exc.args[0]} is not part of the mesh") from None
        return self.displacement[rows]


def ccx_path() -> str | None:
    return shutil.which("ccx")


def extrude(occupancy_2d: np.ndarray, layers: int = 1) -> np.ndarray:
    """A 2D (nx, ny) design as (nx, ny, layers) voxels (give ``solve`` a z pitch of thickness / layers)."""
    occ = np.asarray(occupancy_2d, dtype=bool)
    if occ.ndim != 2 or layers < 1:
        raise VoxelFEError("extrude needs a 2D occupancy and at least one layer")
    return np.repeat(occ[:, :, None], layers, axis=2)


def _pitch3(pitch: float | tuple[float, float, float]) -> np.ndarray:
    p = np.broadcast_to(np.asarray(pitch, dtype=float), (3,)).copy()
    if not (np.isfinite(p).all() and (p > 0).all()):
        raise VoxelFEError(f"pitch must be positive, got {pitch!r}")
    return p


def _mesh(occ: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node ids on the (n+1)^3 lattice (-1: unused), the used nodes' lattice indices, the elements' node ids
    (1-based, C3D8 order: the k face counter-clockwise seen from +z, then the k + 1 face)."""
    shape = np.array(occ.shape) + 1
    used = np.zeros(shape, dtype=bool)
    corners = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)]
    nx, ny, nz = occ.shape
    for di, dj, dk in corners:
        used[di : di + nx, dj : dj + ny, dk : dk + nz] |= occ
    ids = np.full(shape, -1, dtype=np.int64)
    ids[used] = np.arange(1, int(used.sum()) + 1)
    vox = np.argwhere(occ)
    elems = np.stack([ids[vox[:, 0] + a, vox[:, 1] + b, vox[:, 2] + c] for a, b, c in corners], axis=1)
    return ids, np.argwhere(used), elems


def _node_loads(occ: np.ndarray, voxel_forces, nodal_forces) -> np.ndarray:
    nshape = tuple(np.array(occ.shape) + 1)
    f = np.zeros(nshape + (3,))
    if voxel_forces is not None:
        vf = np.asarray(voxel_forces, dtype=float)
        if vf.shape != occ.shape + (3,):
            raise VoxelFEError(f"voxel_forces must have shape {occ.shape + (3,)}, got {vf.shape}")
        if np.abs(vf[~occ]).max(initial=0.0) > 0:
            raise VoxelFEError("voxel_forces load an empty voxel")
        nx, ny, nz = occ.shape
        for a in (0, 1):
            for b in (0, 1):
                for c in (0, 1):
                    f[a : a + nx, b : b + ny, c : c + nz] += vf / 8.0
    if nodal_forces is not None:
        nf = np.asarray(nodal_forces, dtype=float)
        if nf.shape != nshape + (3,):
            raise VoxelFEError(f"nodal_forces must have shape {nshape + (3,)}, got {nf.shape}")
        f += nf
    if not np.isfinite(f).all() or not np.abs(f).max(initial=0.0) > 0:
        raise VoxelFEError("no load: give voxel_forces or nodal_forces with a non-zero, finite force")
    return f


def _fixed_nodes(occ: np.ndarray, fixed: np.ndarray, ids: np.ndarray) -> np.ndarray:
    mask = np.asarray(fixed, dtype=bool)
    nshape = tuple(np.array(occ.shape) + 1)
    if mask.shape == occ.shape:
        held = np.zeros(nshape, dtype=bool)
        nx, ny, nz = occ.shape
        for a in (0, 1):
            for b in (0, 1):
                for c in (0, 1):
                    held[a : a + nx, b : b + ny, c : c + nz] |= mask & occ
    elif mask.shape == nshape:
        held = mask & (ids > 0)
    else:
        raise VoxelFEError(f"fixed must be a voxel mask {occ.shape} or a node mask {nshape}, got {mask.shape}")
    if not held.any():
        raise VoxelFEError("no support: 'fixed' holds no node of an occupied voxel")
    return ids[held]


def _write_deck(path: Path, xyz, elems, fixed_ids, load_ids, loads, e_mpa, nu, element: str = "C3D8I") -> None:
    with open(path, "w") as out:
        out.write(f"** bits2atoms voxel design: one {element} element per voxel (mm, N, N/mm^2)\n*NODE, NSET=NALL\n")
        out.write("".join(f"{i + 1}, {x:.9g}, {y:.9g}, {z:.9g}\n" for i, (x, y, z) in enumerate(xyz)))
        out.write(f"*ELEMENT, TYPE={element}, ELSET=EALL\n")
        out.write("".join(f"{e + 1}, " + ", ".join(map(str, row)) + "\n" for e, row in enumerate(elems.tolist())))
        out.write("*NSET, NSET=FIXED\n")
        out.write("".join(f"{i},\n" for i in fixed_ids.tolist()))
        out.write(f"*MATERIAL, NAME=M\n*ELASTIC\n{e_mpa:.9g}, {nu:.9g}\n")
        out.write("*SOLID SECTION, ELSET=EALL, MATERIAL=M\n")
        out.write("*STEP\n*STATIC\n*BOUNDARY\nFIXED, 1, 3\n*CLOAD\n")
        for i, f in zip(load_ids.tolist(), loads.tolist(), strict=True):
            for d in range(3):
                if f[d] != 0.0:
                    out.write(f"{i}, {d + 1}, {f[d]:.12g}\n")
        out.write("*NODE PRINT, NSET=NALL\nU\n*NODE PRINT, NSET=FIXED, TOTALS=ONLY\nRF\n")
        out.write("*EL PRINT, ELSET=EALL\nS\n*END STEP\n")


def _blocks(text: str) -> dict[str, list[list[float]]]:
    """The .dat file's tables by heading keyword: 'displacements', 'stresses', 'total force'."""
    out: dict[str, list[list[float]]] = {}
    current = None
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        low = s.lower()
        if low.startswith("displacements"):
            current = "displacements"
        elif low.startswith("stresses"):
            current = "stresses"
        elif low.startswith("total force"):
            current = "total force"
        elif current is not None:
            try:
                out.setdefault(current, []).append([float(v) for v in s.split()])
                continue
            except ValueError:
                current = None
    return out


def solve(
    occupancy: np.ndarray,
    pitch: float | tuple[float, float, float],
    *,
    youngs_modulus: float,
    poisson_ratio: float,
    fixed: np.ndarray,
    voxel_forces: np.ndarray | None = None,
    nodal_forces: np.ndarray | None = None,
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
    threads: int = 1,
    keep: Path | None = None,
    timeout_s: float = 600.0,
    element: str = "C3D8I",
) -> FEResult:
    """Linear static CalculiX solve of a voxel design (see the module docstring for the conventions).

    ``youngs_modulus`` Pa; ``pitch`` mm (one number, or (dx, dy, dz)); ``keep``: a folder to keep the deck and
    ccx's output in (default: a temporary folder, removed). ``element``: ``C3D8I`` (the judge) or ``C3D8``
    (plain trilinear hexahedra, full integration: the element SIMP's own model uses, to check that model)."""
    if element not in ("C3D8I", "C3D8"):
        raise VoxelFEError(f"element must be C3D8I or C3D8, got {element!r}")
    exe = ccx_path()
    if exe is None:
        raise VoxelFEError("CalculiX (ccx) is not installed: apt-get install calculix-ccx (or make peers)")
    occ = np.asarray(occupancy, dtype=bool)
    if occ.ndim == 2:
        occ = occ[:, :, None]
    if occ.ndim != 3 or not occ.any():
        raise VoxelFEError("occupancy must be a non-empty 2D or 3D bool array")
    if not (youngs_modulus > 0 and -1.0 < poisson_ratio < 0.5):
        raise VoxelFEError(f"bad material: E = {youngs_modulus} Pa, nu = {poisson_ratio}")
    p = _pitch3(pitch)
    ids, node_ijk, elems = _mesh(occ)
    xyz = np.asarray(origin, dtype=float) + node_ijk * p
    fixed_ids = _fixed_nodes(occ, fixed, ids)
    f = _node_loads(occ, voxel_forces, nodal_forces)
    loaded = np.abs(f).sum(axis=3) > 0
    if (loaded & (ids < 0)).any():
        raise VoxelFEError("a nodal force acts on a node that no occupied voxel uses")
    load_ids, loads = ids[loaded], f[loaded]
    fvec = np.zeros((len(node_ijk), 3))
    fvec[load_ids - 1] = loads

    work = Path(keep) if keep is not None else Path(tempfile.mkdtemp(prefix="voxel_fe_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        _write_deck(work / "job.inp", xyz, elems, fixed_ids, load_ids, loads, youngs_modulus / PA_PER_MPA,
                    poisson_ratio, element)  # fmt: skip
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), CCX_NPROC_EQUATION_SOLVER=str(threads))
        t0 = time.perf_counter()
        try:
            run = subprocess.run(
                [exe, "-i", "job"], cwd=work, env=env, capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            raise VoxelFEError(f"ccx did not finish in {timeout_s:g} s ({len(elems)} elements)") from None
        seconds = time.perf_counter() - t0
        log = run.stdout + run.stderr
        if run.returncode != 0 or "*ERROR" in log:
            first = next((ln.strip() for ln in log.splitlines() if "*ERROR" in ln), f"exit {run.returncode}")
            raise VoxelFEError(f"ccx failed: {first}")
        dat = work / "job.dat"
        if not dat.is_file():
            raise VoxelFEError("ccx wrote no results (job.dat missing)")
        tables = _blocks(dat.read_text())
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)

    disp_rows = np.array(tables.get("displacements", []))
    if disp_rows.shape != (len(node_ijk), 4):
        raise VoxelFEError(f"ccx returned {len(disp_rows)} displacements for {len(node_ijk)} nodes")
    u = np.zeros((len(node_ijk), 3))
    u[disp_rows[:, 0].astype(int) - 1] = disp_rows[:, 1:4]
    stress = np.array(tables.get("stresses", []))
    if stress.ndim != 2 or stress.shape[1] != 8 or len(stress) < len(elems):
        raise VoxelFEError("ccx returned no integration-point stresses")
    sxx, syy, szz, sxy, sxz, syz = stress[:, 2:8].T
    vm = np.sqrt(0.5 * ((sxx - syy) ** 2 + (syy - szz) ** 2 + (szz - sxx) ** 2) + 3 * (sxy**2 + sxz**2 + syz**2))
    reaction = np.array(tables.get("total force", [[np.nan] * 3])[0][-3:])
    applied = fvec.sum(axis=0)
    if not (np.isfinite(u).all() and np.isfinite(vm).all()):
        raise VoxelFEError("ccx returned non-finite results (a mechanism: part of the design is not held?)")
    if np.abs(reaction + applied).max() > 1e-6 * np.abs(applied).max() + 1e-9:
        raise VoxelFEError(f"support reactions {reaction} do not balance the load {applied} (N)")
    labels, _ = ndimage.label(occ, structure=np.ones((3, 3, 3), dtype=bool))  # shared corners join voxels
    held_vox = np.zeros_like(occ)
    nx, ny, nz = occ.shape
    held_nodes = np.isin(ids, fixed_ids)
    for a in (0, 1):
        for b in (0, 1):
            for c in (0, 1):
                held_vox |= held_nodes[a : a + nx, b : b + ny, c : c + nz]
    anchored = np.unique(labels[occ & held_vox])
    return FEResult(
        nodes=xyz,
        node_ijk=node_ijk,
        displacement=u,
        compliance_nmm=float((fvec * u).sum()),
        max_von_mises_pa=float(vm.max()) * PA_PER_MPA,
        max_displacement_mm=float(np.linalg.norm(u, axis=1).max()),
        reaction_n=reaction,
        elements=len(elems),
        detached_voxels=int((occ & ~np.isin(labels, anchored[anchored > 0])).sum()),
        seconds=seconds,
    )
