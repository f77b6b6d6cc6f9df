"""Surface meshes for printing and viewing: binary STL and 3MF, from a mesh or from a voxel grid.

Geometry is in millimetres throughout (STL has no unit; 3MF declares ``unit="millimeter"``).

- ``write_stl(mesh, path)`` / ``write_3mf(mesh, path)``: validate a mesh (finite, non-empty, closed,
  outward normals) after the usual repairs of a B-rep tessellation (merge vertices, drop degenerate
  faces) and write it atomically.
- ``mesh_from_voxels(occupancy, pitch, origin)``: a smooth watertight surface of a voxel grid. Marching
  cubes runs on a lightly blurred occupancy; the iso-level is then corrected by a few secant steps so the
  enclosed volume matches the voxel volume (within ``VOLUME_TOLERANCE``).
- ``mesh_from_points(points_mm, spacing)``: the same for a particle field (particles binned to a grid).
"""

from __future__ import annotations

import os
import zipfile
from xml.sax.saxutils import quoteattr

import numpy as np
import trimesh
from scipy import ndimage
from skimage import measure

from exporters.atomic import atomic_path
from exporters.errors import ExportError
from exporters.grid import checked_grid

# Relative volume error accepted by the iso-level correction (the spec asks for 2 %).
VOLUME_TOLERANCE = 0.005
# Gaussian blur (in voxels) of the occupancy before marching cubes: removes the staircase without
# rounding features much thinner than two voxels away.
SMOOTH_SIGMA = 0.6
PAD = 2


def _marching_cubes(field: np.ndarray, level: float, pitch: float, corner: np.ndarray) -> trimesh.Trimesh:
    verts, faces, _, _ = measure.marching_cubes(field, level=level, spacing=(pitch, pitch, pitch))
    mesh = trimesh.Trimesh(vertices=verts + corner, faces=faces, process=True)
    if mesh.volume < 0:  # skimage orients by gradient; we want outward normals for a solid
        mesh.invert()
    return mesh


def mesh_from_voxels(
    occupancy: np.ndarray,
    pitch: float,
    origin,
    smooth: bool = True,
    decimate: float | None = None,
) -> trimesh.Trimesh:
    """Watertight surface (mm) of the filled voxels, volume within ``VOLUME_TOLERANCE`` of the voxel volume.

    ``origin`` is the centre of voxel (0, 0, 0) in mm. ``smooth=False`` gives the exact blocky surface
    (voxel faces; pinched, hence not watertight in trimesh's sense, where voxels touch only along an edge). ``decimate`` is a geometric tolerance in mm for manifold3d's simplification (keeps the
    mesh manifold); ``None`` keeps every marching-cubes triangle.
    """
    occ, pitch, org = checked_grid(occupancy, pitch, origin)
    if not smooth:
        # Voxels that touch only along an edge or at a corner pinch the surface there: it is closed
        # (every edge has an even number of faces) but not manifold, and STL cannot say otherwise.
        mesh = _blocky_mesh(occ, pitch, org)
        if decimate is not None:
            raise ExportError(
                "decimate applies to smooth surfaces only (the blocky surface is already minimal)"
            )
        return mesh
    mesh = _smooth_mesh(occ, pitch, org)
    if decimate is not None:
        mesh = _decimate(mesh, float(decimate))
    _validate(mesh)
    return mesh


def _blocky_mesh(occ: np.ndarray, pitch: float, org: np.ndarray) -> trimesh.Trimesh:
    """Exact voxel-face surface (volume equal to the voxel volume; edge-touching voxels make it non-manifold)."""
    mesh = _skin_of_boxes(occ)
    mesh.apply_scale(pitch)
    # skin vertices are in padded index units: voxel (0,0,0) spans [1, 2) -> its centre is at 1.5
    mesh.apply_translation(org - 1.5 * pitch)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _skin_of_boxes(occ: np.ndarray) -> trimesh.Trimesh:
    """Faces between a filled and an empty voxel, in index units of a grid padded by one voxel."""
    padded = np.pad(occ, 1)
    quads = []
    # unit square corners per axis, ordered counter-clockwise seen from +axis
    for axis in range(3):
        a1, a2 = (axis + 1) % 3, (axis + 2) % 3
        diff = padded[tuple(slice(1, None) if d == axis else slice(None) for d in range(3))].astype(
            np.int8
        ) - padded[tuple(slice(None, -1) if d == axis else slice(None) for d in range(3))].astype(np.int8)
        for sign in (1, -1):
            idx = np.argwhere(diff == -sign)  # filled on the low side -> face normal +axis when sign=1
            base = idx.astype(np.float64)
            base[:, axis] += 1.0
            corners = np.zeros((4, 3))
            corners[1, a1] = 1
            corners[2, a1] = 1
            corners[2, a2] = 1
            corners[3, a2] = 1
            if sign == -1:
                corners = corners[::-1]
            quads.append(base[:, None, :] + corners[None, :, :])
    quads = np.concatenate(quads)
    verts = quads.reshape(-1, 3)
    n = len(quads)
    q = np.arange(n)[:, None] * 4
    faces = np.concatenate([q + [0, 1, 2], q + [0, 2, 3]])
    mesh = trimesh.Trimesh(verts, faces, process=True)
    return mesh


def _smooth_mesh(
    density: np.ndarray, pitch: float, org: np.ndarray, target: float | None = None
) -> trimesh.Trimesh:
    """Marching cubes of a blurred density (1 = filled cell) whose enclosed volume matches ``target``
    (mm^3; default: the density's sum times the cell volume)."""
    padded = np.pad(density.astype(np.float32), PAD)
    field = ndimage.gaussian_filter(padded, sigma=SMOOTH_SIGMA, mode="constant")
    corner = org - PAD * pitch
    if target is None:
        target = float(density.sum()) * pitch**3
    # Secant iteration on the iso-level: the enclosed volume decreases monotonically as the level rises.
    # Isolated single voxels blur below 0.5, so levels are relative to the field's peak.
    peak = float(field.max())
    level = min(0.5, 0.5 * peak)
    mesh = _marching_cubes(field, level, pitch, corner)
    err = mesh.volume / target - 1.0
    prev_level, prev_err = level, err
    level = level + (0.05 if err > 0 else -0.05) * min(1.0, peak)
    for _ in range(8):
        if abs(err) <= VOLUME_TOLERANCE:
            break
        level = float(np.clip(level, 0.02 * peak, 0.98 * peak))
        mesh = _marching_cubes(field, level, pitch, corner)
        err = mesh.volume / target - 1.0
        slope = (err - prev_err) / (level - prev_level)
        prev_level, prev_err = level, err
        if slope >= 0:
            break
        level = level - err / slope
    return mesh


def _decimate(mesh: trimesh.Trimesh, tolerance_mm: float) -> trimesh.Trimesh:
    if not np.isfinite(tolerance_mm) or tolerance_mm <= 0:
        raise ExportError(f"decimate must be a positive tolerance in mm, got {tolerance_mm}")
    import manifold3d

    solid = manifold3d.Manifold(
        manifold3d.Mesh(
            vert_properties=np.asarray(mesh.vertices, dtype=np.float32),
            tri_verts=np.asarray(mesh.faces, dtype=np.uint32),
        )
    )
    out = solid.simplify(tolerance_mm).to_mesh()
    return trimesh.Trimesh(np.asarray(out.vert_properties)[:, :3], np.asarray(out.tri_verts), process=True)


def mesh_from_points(
    points_mm: np.ndarray, spacing: float, smooth: bool = True, decimate: float | None = None
) -> trimesh.Trimesh:
    """Watertight surface of a particle field whose particles each stand for a cube of side ``spacing`` (mm).

    Particles are splatted (trilinear weights) onto a grid of pitch ``spacing``, so a deformed field
    (particles off their lattice sites) still gives a closed surface; the enclosed volume is matched to
    ``N * spacing^3``. On an undeformed lattice this is exactly ``mesh_from_voxels`` of the occupied sites.
    ``smooth=False`` rounds each particle to its nearest site and returns the blocky voxel surface.
    """
    pts = np.asarray(points_mm, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise ExportError(f"points must be an (N, 3) array with N > 0, got shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ExportError("points contain NaN or infinite coordinates")
    spacing = float(spacing)
    if not np.isfinite(spacing) or spacing <= 0:
        raise ExportError(f"spacing must be a positive number of mm, got {spacing}")
    lo = pts.min(axis=0)
    rel = (pts - lo) / spacing
    if not smooth:
        ijk = np.rint(rel).astype(np.int64)
        occ = np.zeros(ijk.max(axis=0) + 1, dtype=bool)
        occ[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
        return mesh_from_voxels(occ, spacing, lo, smooth=False)
    base = np.floor(rel).astype(np.int64)
    frac = rel - base
    density = np.zeros(base.max(axis=0) + 2, dtype=np.float64)
    for corner in np.ndindex(2, 2, 2):
        weight = np.prod(np.where(corner, frac, 1.0 - frac), axis=1)
        idx = base + corner
        np.add.at(density, (idx[:, 0], idx[:, 1], idx[:, 2]), weight)
    mesh = _smooth_mesh(np.minimum(density, 1.0), spacing, lo, target=len(pts) * spacing**3)
    if decimate is not None:
        mesh = _decimate(mesh, float(decimate))
    _validate(mesh)
    return mesh


def _prepare(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Copy, merge duplicate vertices and drop degenerate faces (B-rep tessellations need it)."""
    if not isinstance(mesh, trimesh.Trimesh):
        raise ExportError(f"expected a trimesh.Trimesh, got {type(mesh).__name__}")
    if len(mesh.faces) == 0:
        raise ExportError("the mesh has no triangles")
    if not np.all(np.isfinite(mesh.vertices)):
        raise ExportError("the mesh has NaN or infinite vertex coordinates")
    out = mesh.copy()
    out.merge_vertices()
    out.update_faces(out.nondegenerate_faces())
    out.update_faces(out.unique_faces())
    out.remove_unreferenced_vertices()
    if len(out.faces) == 0:
        raise ExportError("every triangle of the mesh is degenerate")
    if out.is_watertight and out.volume < 0:
        out.invert()
    return out


def _validate(mesh: trimesh.Trimesh, require_closed: bool = True) -> None:
    if require_closed and not mesh.is_watertight:
        raise ExportError(
            f"the mesh is not watertight ({len(mesh.faces)} triangles, open edges present); "
            "pass allow_open=True to write it anyway"
        )
    if require_closed and not mesh.is_winding_consistent:
        raise ExportError("the mesh has inconsistent triangle winding")
    if require_closed and mesh.volume <= 0:
        raise ExportError(f"the mesh encloses no volume ({mesh.volume:.3g} mm^3)")


def write_stl(
    mesh: trimesh.Trimesh, path: str | os.PathLike[str], allow_open: bool = False
) -> trimesh.Trimesh:
    """Write ``mesh`` (mm) as binary STL after repair and validation; return the mesh written.

    Raises ExportError for an empty, non-finite or (unless ``allow_open``) open mesh.
    """
    out = _prepare(mesh)
    _validate(out, require_closed=not allow_open)
    with atomic_path(path) as tmp:
        out.export(tmp, file_type="stl")
    return out


def write_3mf(
    mesh: trimesh.Trimesh, path: str | os.PathLike[str], allow_open: bool = False
) -> trimesh.Trimesh:
    """Write ``mesh`` (mm) as a 3MF package (one object, unit millimetre); return the mesh written."""
    out = _prepare(mesh)
    _validate(out, require_closed=not allow_open)
    verts = "".join(f'<vertex x="{x:.6f}" y="{y:.6f}" z="{z:.6f}"/>' for x, y, z in out.vertices)
    tris = "".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>' for a, b, c in out.faces)
    model = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<model unit="millimeter" xml:lang="en-US" '
        'xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">'
        f'<metadata name="Application">{"bits2atoms"}</metadata>'
        f'<resources><object id="1" name={quoteattr("part")} type="model"><mesh>'
        f"<vertices>{verts}</vertices><triangles>{tris}</triangles></mesh></object></resources>"
        '<build><item objectid="1"/></build></model>'
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>'
        "</Types>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Target="/3D/3dmodel.model" Id="rel0" '
        'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>'
    )
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", content_types)
        zf.writestr("_rels/.rels", rels)
        zf.writestr("3D/3dmodel.model", model)
    return out


def export_stl_from_voxels(
    occupancy: np.ndarray,
    pitch: float,
    origin,
    path: str | os.PathLike[str],
    smooth: bool = True,
    decimate: float | None = None,
) -> trimesh.Trimesh:
    """One call: smooth surface of a voxel grid written as STL (or 3MF when ``path`` ends in .3mf)."""
    mesh = mesh_from_voxels(occupancy, pitch, origin, smooth=smooth, decimate=decimate)
    if str(path).lower().endswith(".3mf"):
        return write_3mf(mesh, path)
    return write_stl(mesh, path)


def export(mesh: trimesh.Trimesh, path: str | os.PathLike[str]) -> dict:
    """The exporter entry point (exporters/__init__.py): STL, or 3MF for a ``.3mf`` path; its figures."""
    (write_3mf if str(path).lower().endswith(".3mf") else write_stl)(mesh, path)
    return {"triangles": int(len(mesh.faces)), "volume_mm3": float(mesh.volume), "watertight": bool(mesh.is_watertight)}
