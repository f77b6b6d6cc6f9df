"""Finite-element reference for the stress benchmark: gmsh second-order tetrahedra + CalculiX (ccx) statics.

Benchmark-only helpers (gmsh is in the ``bench`` extra, ccx is Debian's ``calculix-ccx``); nothing in the
package imports this. Units are the CAD ones: mm, N, MPa (N/mm^2), so displacements come back in mm.

    shape = bar_shape()                                    # CadQuery geometry of the benchmark parts
    write_step(shape, "bar.step")
    mesh = tet10_mesh("bar.step", size_mm=2.0)             # C3D10 nodes/elements, CalculiX node order
    sol = solve_static(mesh, E_mpa, nu, fix="<X", load="&gt;X", force_n=(0, 0, -200))
    sol.face_mean_mm, sol.max_displacement_mm

Regions use the pipeline's own expressions (fab.regions) evaluated on the FE nodes with a depth far below
the mesh size, so "<X" means the nodes on the face at minimum x. A force load is a uniform traction on the
region's boundary faces, applied as the consistent nodal forces of 6-node triangles (corner nodes 0, each
mid-side node 1/3 of the triangle's share); the loaded face's mean displacement is the area average with the
same weights, i.e. the work-conjugate displacement of that traction.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cadquery as cq
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fab.regions import select  # noqa: E402

# Corner pairs of the six mid-side nodes in CalculiX's (Abaqus) C3D10 order, 0-based.
C3D10_EDGES = ((0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3))
# The four faces of a C3D10 as (corner, corner, corner, mid, mid, mid) local indices.
C3D10_FACES = (
    (0, 1, 2, 4, 5, 6),
    (0, 1, 3, 4, 8, 7),
    (1, 2, 3, 5, 9, 8),
    (2, 0, 3, 6, 7, 9),
)
# Region depth (mm) for FE node selection: the nodes *on* the extreme face, not a slab.
_FACE_DEPTH_MM = 1e-6


class FEError(RuntimeError):
    """The FE reference could not be computed (missing tool, failed mesh or solve)."""


def bar_shape(length: float = 100.0, width: float = 10.0, height: float = 10.0) -> cq.Workplane:
    """Cantilever bar along x from the origin: ``length`` x ``width`` (y) x ``height`` (z) mm."""
    return cq.Workplane("XY").box(length, width, height, centered=False)


def bracket_shape(
    base: float = 60.0, upright: float = 50.0, width: float = 10.0, thickness: float = 10.0
) -> cq.Workplane:
    """L-bracket in the xz plane: a horizontal leg ``base`` long (x) and a vertical leg ``upright`` tall (z)
    at its far end, both ``thickness`` thick and ``width`` deep (y). The free end of the horizontal leg is
    the face at minimum x, the free end of the upright the face at maximum z."""
    leg = cq.Workplane("XY").box(base, width, thickness, centered=False)
    rise = (
        cq.Workplane("XY").box(thickness, width, upright, centered=False).translate((base - thickness, 0, 0))
    )
    return leg.union(rise)


def write_step(shape: cq.Workplane, path: str | os.PathLike[str]) -> Path:
    """Write ``shape`` as STEP (mm) and return the path."""
    path = Path(path)
    cq.exporters.export(shape, str(path), exportType="STEP")
    return path


@dataclass
class TetMesh:
    """Second-order tetrahedral mesh: ``nodes`` (n, 3) mm, ``elements`` (m, 10) 0-based, C3D10 order."""

    nodes: np.ndarray
    elements: np.ndarray
    size_mm: float
    seconds: float

    @property
    def volume_mm3(self) -> float:
        return float(_tet_volumes(self.nodes, self.elements).sum())


def _tet_volumes(nodes: np.ndarray, elements: np.ndarray) -> np.ndarray:
    a, b, c, d = (nodes[elements[:, k]] for k in range(4))
    return np.einsum("ij,ij->i", np.cross(b - a, c - a), d - a) / 6.0


def tet10_mesh(step_path: str | os.PathLike[str], size_mm: float, *, optimize: bool = True) -> TetMesh:
    """Mesh a STEP solid with gmsh into 10-node tetrahedra of about ``size_mm`` edge length.

    The mid-side nodes are matched to their corner pairs geometrically (planar parts: exact midpoints), so
    the result is in CalculiX order whatever gmsh's own numbering, and every element has positive volume.
    """
    try:
        import gmsh
    except ImportError as exc:  # bench extra not installed
        raise FEError("gmsh is not installed: pip install gmsh (the 'bench' extra)") from exc
    t0 = time.perf_counter()
    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)  # single thread: the same mesh every run
        gmsh.option.setString("Geometry.OCCTargetUnit", "MM")
        gmsh.model.add("part")
        gmsh.model.occ.importShapes(str(step_path))
        gmsh.model.occ.synchronize()
        gmsh.option.setNumber("Mesh.MeshSizeMax", size_mm)
        gmsh.option.setNumber("Mesh.MeshSizeMin", 0.25 * size_mm)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
        gmsh.option.setNumber("Mesh.Algorithm3D", 1)  # Delaunay
        gmsh.option.setNumber("Mesh.Optimize", 1 if optimize else 0)
        gmsh.option.setNumber("Mesh.ElementOrder", 2)
        gmsh.option.setNumber("Mesh.SecondOrderLinear", 1)  # straight edges: planar parts, exact midpoints
        gmsh.model.mesh.generate(3)
        tags, coords, _ = gmsh.model.mesh.getNodes()
        etypes, _, enodes = gmsh.model.mesh.getElements(dim=3)
    except Exception as exc:  # gmsh raises a bare Exception with its log message
        raise FEError(f"gmsh could not mesh {step_path}: {exc}") from exc
    finally:
        gmsh.finalize()
    if 11 not in list(etypes):  # 11 = 10-node tetrahedron
        raise FEError(f"gmsh produced no 10-node tetrahedra for {step_path}")
    conn_tags = np.asarray(enodes[list(etypes).index(11)], dtype=np.int64).reshape(-1, 10)
    tags = np.asarray(tags, dtype=np.int64)
    nodes_all = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    # Compact numbering: only nodes used by tetrahedra, 0-based.
    index = np.full(tags.max() + 1, -1, dtype=np.int64)
    index[tags] = np.arange(len(tags))
    conn = index[conn_tags]
    used, conn = np.unique(conn, return_inverse=True)
    conn = conn.reshape(-1, 10)
    nodes = nodes_all[used]
    elements = _to_c3d10(nodes, conn)
    return TetMesh(nodes=nodes, elements=elements, size_mm=float(size_mm), seconds=time.perf_counter() - t0)


def _to_c3d10(nodes: np.ndarray, conn: np.ndarray) -> np.ndarray:
    """Reorder mid-side nodes to C3D10 order by matching each to its edge midpoint; fix inverted tets."""
    corners = conn[:, :4].copy()
    vol = _tet_volumes(nodes, np.concatenate([corners, conn[:, 4:]], axis=1))
    flip = vol < 0
    corners[flip] = corners[flip][:, [0, 2, 1, 3]]
    mids = nodes[conn[:, 4:]]  # (m, 6, 3)
    want = np.stack([0.5 * (nodes[corners[:, a]] + nodes[corners[:, b]]) for a, b in C3D10_EDGES], axis=1)
    dist = np.linalg.norm(want[:, :, None, :] - mids[:, None, :, :], axis=-1)  # (m, edge, mid)
    pick = dist.argmin(axis=2)
    ok = np.take_along_axis(dist, pick[:, :, None], axis=2)[..., 0]
    edge_len = np.linalg.norm(nodes[corners[:, 1]] - nodes[corners[:, 0]], axis=1)
    if (np.sort(pick, axis=1) != np.arange(6)).any() or (ok > 1e-6 * edge_len[:, None]).any():
        raise FEError("could not match mid-side nodes to edges (curved second-order elements?)")
    out = np.empty_like(conn)
    out[:, :4] = corners
    out[:, 4:] = np.take_along_axis(conn[:, 4:], pick, axis=1)
    return out


def boundary_faces(elements: np.ndarray) -> np.ndarray:
    """(k, 6) boundary triangles (3 corners then 3 mid-side nodes) of a C3D10 mesh: faces used once."""
    faces = np.concatenate([elements[:, list(f)] for f in C3D10_FACES], axis=0)
    key = np.sort(faces[:, :3], axis=1)
    _, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
    return faces[first[counts == 1]]


def region_nodes(nodes: np.ndarray, expr: str) -> np.ndarray:
    """Boolean mask of the nodes in a region expression, extremes taken as the face itself."""
    return select(expr, nodes, pitch_mm=_FACE_DEPTH_MM)


def face_weights(nodes: np.ndarray, elements: np.ndarray, expr: str) -> tuple[np.ndarray, float]:
    """Per-node weights (sum 1) of a uniform traction on the boundary faces inside ``expr``, and their area.

    For a flat 6-node triangle the integral of each corner shape function is 0 and of each mid-side one
    A/3, so these are both the consistent nodal loads per unit force and the area-average weights.
    """
    inside = region_nodes(nodes, expr)
    tri = boundary_faces(elements)
    tri = tri[inside[tri].all(axis=1)]
    if len(tri) == 0:
        raise FEError(f"region {expr!r} contains no boundary face of the mesh")
    p = nodes[tri[:, :3]]
    area = 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    w = np.zeros(len(nodes))
    np.add.at(w, tri[:, 3:].ravel(), np.repeat(area / 3.0, 3))
    total = float(area.sum())
    return w / total, total


def write_deck(
    path: str | os.PathLike[str],
    mesh: TetMesh,
    youngs_modulus_mpa: float,
    poisson_ratio: float,
    fixed: np.ndarray,
    loads: np.ndarray,
) -> None:
    """CalculiX input: C3D10 solid, linear elastic, ``fixed`` nodes (mask) held, nodal ``loads`` (n, 3) N."""
    ids = np.arange(1, len(mesh.nodes) + 1)
    lines = ["*HEADING", "bits2atoms stress benchmark reference", "*NODE, NSET=NALL"]
    lines += [f"{i},{x:.12g},{y:.12g},{z:.12g}" for i, (x, y, z) in zip(ids, mesh.nodes, strict=True)]
    lines.append("*ELEMENT, TYPE=C3D10, ELSET=EALL")
    for k, el in enumerate(mesh.elements + 1, start=1):
        lines.append(f"{k}," + ",".join(str(int(v)) for v in el[:7]) + ",")  # max 16 entries per line
        lines.append(",".join(str(int(v)) for v in el[7:]))
    fixed_ids = ids[fixed]
    if len(fixed_ids) == 0:
        raise FEError("no fixed node")
    lines.append("*NSET, NSET=FIX")
    lines += [",".join(str(int(v)) for v in fixed_ids[i : i + 16]) for i in range(0, len(fixed_ids), 16)]
    lines += [
        "*MATERIAL, NAME=MAT",
        "*ELASTIC",
        f"{youngs_modulus_mpa:.12g},{poisson_ratio:.12g}",
        "*SOLID SECTION, ELSET=EALL, MATERIAL=MAT",
        "*BOUNDARY",
        "FIX,1,3,0.",
        "*STEP",
        "*STATIC",
        "*CLOAD",
    ]
    for node, f in zip(ids, loads, strict=True):
        for dof in range(3):
            if f[dof] != 0.0:
                lines.append(f"{node},{dof + 1},{f[dof]:.12g}")
    lines += ["*NODE PRINT, NSET=NALL", "U", "*END STEP", ""]
    Path(path).write_text("\n".join(lines))


_DISP_HEADER = re.compile(r"displacements \(vx,vy,vz\) for set NALL")


def read_dat_displacements(path: str | os.PathLike[str], count: int) -> np.ndarray:
    """Nodal displacements (count, 3) from a CalculiX .dat written by ``*NODE PRINT ... U``."""
    text = Path(path).read_text()
    headers = list(_DISP_HEADER.finditer(text))
    if not headers:
        raise FEError(f"no displacement block in {path}")
    u = np.full((count, 3), np.nan)
    for line in text[headers[-1].end() :].splitlines()[1:]:
        parts = line.split()
        if not parts:
            if np.isfinite(u).all():
                break
            continue
        if len(parts) != 4:
            break
        u[int(parts[0]) - 1] = [float(v) for v in parts[1:]]
    if not np.isfinite(u).all():
        raise FEError(f"{path}: displacements of {int(np.isnan(u[:, 0]).sum())} nodes missing")
    return u


def ccx_path() -> str | None:
    """Path of the CalculiX solver, or None (install: apt-get install calculix-ccx)."""
    return shutil.which("ccx")


@dataclass
class FESolution:
    """A static CalculiX solution; lengths in mm."""

    mesh: TetMesh
    displacement_mm: np.ndarray  # (n, 3)
    face_mean_mm: np.ndarray  # (3,) area-weighted mean displacement of the loaded faces
    max_displacement_mm: float  # largest nodal |u|
    reaction_n: np.ndarray  # (3,) sum of applied loads (checked against the requested total)
    seconds: float  # ccx wall time

    @property
    def nodes(self) -> int:
        return len(self.mesh.nodes)

    @property
    def elements(self) -> int:
        return len(self.mesh.elements)


def solve_static(
    mesh: TetMesh,
    youngs_modulus_pa: float,
    poisson_ratio: float,
    *,
    fix: str,
    load: str,
    force_n: tuple[float, float, float],
    threads: int = 2,
    keep_dir: str | os.PathLike[str] | None = None,
) -> FESolution:
    """Clamp the nodes of region ``fix``, put total force ``force_n`` (N) as a uniform traction on region
    ``load``, solve with ccx and return the displacements. ``keep_dir`` keeps the deck and outputs there."""
    exe = ccx_path()
    if exe is None:
        raise FEError("CalculiX not found: apt-get install calculix-ccx")
    fixed = region_nodes(mesh.nodes, fix)
    weights, _ = face_weights(mesh.nodes, mesh.elements, load)
    if (weights[fixed] > 0).any():
        raise FEError(f"load region {load!r} overlaps fixed region {fix!r}")
    loads = weights[:, None] * np.asarray(force_n, dtype=float)[None, :]
    tmp = None
    if keep_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="ccx_")
        work = Path(tmp.name)
    else:
        work = Path(keep_dir)
        work.mkdir(parents=True, exist_ok=True)
    try:
        write_deck(work / "job.inp", mesh, youngs_modulus_pa * 1e-6, poisson_ratio, fixed, loads)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), CCX_NPROC_EQUATION_SOLVER=str(threads))
        t0 = time.perf_counter()
        proc = subprocess.run(
            [exe, "-i", "job"], cwd=work, env=env, capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - t0
        if proc.returncode != 0 or "Job finished" not in proc.stdout:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            raise FEError(f"ccx failed (exit {proc.returncode}): {' | '.join(tail)}")
        u = read_dat_displacements(work / "job.dat", len(mesh.nodes))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return FESolution(
        mesh=mesh,
        displacement_mm=u,
        face_mean_mm=weights @ u,
        max_displacement_mm=float(np.linalg.norm(u, axis=1).max()),
        reaction_n=loads.sum(axis=0),
        seconds=seconds,
    )


def timoshenko_tip_mm(
    force_n: float, length_mm: float, width_mm: float, height_mm: float, youngs_pa: float, nu: float
) -> float:
    """Cantilever tip deflection P L^3/(3 E I) + P L/(k G A), k = 5/6, load along ``height`` (mm)."""
    e = youngs_pa * 1e-6  # N/mm^2
    g = e / (2.0 * (1.0 + nu))
    area = width_mm * height_mm
    inertia = width_mm * height_mm**3 / 12.0
    return force_n * length_mm**3 / (3.0 * e * inertia) + force_n * length_mm / (5.0 / 6.0 * g * area)


def displacement_at(sol: FESolution, points_mm: np.ndarray) -> np.ndarray:
    """(k, 3) FE displacements (mm) at arbitrary points inside the mesh, from the quadratic C3D10 shape functions
    of the element holding each point (NaN for a point no element holds: outside the meshed part)."""
    from scipy.spatial import cKDTree

    nodes, elems = sol.mesh.nodes, sol.mesh.elements
    corners = nodes[elems[:, :4]]  # (m, 4, 3)
    tree = cKDTree(corners.mean(axis=1))
    pts = np.atleast_2d(np.asarray(points_mm, dtype=float))
    out = np.full((len(pts), 3), np.nan)
    k = min(32, len(elems))
    _, cand = tree.query(pts, k=k)
    cand = cand.reshape(len(pts), k)
    t = corners[:, 1:] - corners[:, :1]  # (m, 3, 3) edge vectors from corner 0
    inv = np.linalg.inv(np.transpose(t, (0, 2, 1)))  # solves x - a = T^T l for the barycentrics l1..l3
    for col in range(k):
        todo = np.isnan(out[:, 0])
        if not todo.any():
            break
        e = cand[todo, col]
        l123 = np.einsum("mij,mj->mi", inv[e], pts[todo] - corners[e, 0])
        lam = np.column_stack([1.0 - l123.sum(axis=1), l123])
        inside = (lam >= -1e-9).all(axis=1)
        if not inside.any():
            continue
        lam, e = lam[inside], e[inside]
        shape = np.empty((len(e), 10))
        shape[:, :4] = lam * (2.0 * lam - 1.0)
        for m, (a, b) in enumerate(C3D10_EDGES):
            shape[:, 4 + m] = 4.0 * lam[:, a] * lam[:, b]
        rows = np.flatnonzero(todo)[inside]
        out[rows] = np.einsum("mn,mnk->mk", shape, sol.displacement_mm[elems[e]])
    return out
