"""FDM slicer: a triangle mesh (mm) -> layers of perimeters and infill toolpaths.

Pipeline, one function each: place the part on the bed (drop its lowest point to z=0 and centre its
xy bounding box on the bed), cut it at the middle of every layer (``section_layers``: exact
edge-graph slicing, segments chained in a numba kernel), offset the layer outline into N perimeters
and an infill area (shapely 2 buffers), split the infill area into solid (top/bottom) and sparse parts,
and hatch those with rectilinear or grid lines clipped by shapely.

Extrusion geometry follows PrusaSlicer: a bead of width w on a layer of height h has the stadium
cross-section ``w h - h^2 (1 - pi/4)``, and neighbouring beads sit one *spacing*
``s = w - h (1 - pi/4)`` apart, so a bead's cross-section is exactly ``s h``. The outermost perimeter's
centreline lies s/2 inside the outline, so at 100 % infill the beads tile the layer and the extruded
volume matches the part volume (to the midplane-slicing error).
"""

from __future__ import annotations

import dataclasses
import math

import numba
import numpy as np
import shapely
import trimesh

from exporters.errors import ExportError
from exporters.printers import PrinterProfile

INFILL_PATTERNS = ("rectilinear", "grid")
ROLES = ("external_perimeter", "perimeter", "solid_infill", "top_solid_infill", "infill")
_EPS = 1e-9
CONNECT_FACTOR = 3.0  # infill lines closer than this many line spacings end-to-start are joined
SOLID_MARGIN_MM = 3.0  # top/bottom skins reach this far into sparse infill (PrusaSlicer uses 3 mm too)


@dataclasses.dataclass
class ExtrusionPath:
    """One continuous extrusion: xy points (k, 2) in mm on the bed, printed in order; role is one of ROLES."""

    points: np.ndarray
    role: str


@dataclasses.dataclass
class Layer:
    """A layer: its top z (mm), its height (mm) and its paths in print order."""

    z: float
    height: float
    paths: list[ExtrusionPath]


@dataclasses.dataclass
class Toolpaths:
    """The sliced part: layers plus the settings that shaped them (all lengths mm)."""

    layers: list[Layer]
    extrusion_width: float
    offset_mm: tuple[float, float, float]  # translation applied to the mesh to place it on the bed
    part_volume_mm3: float
    part_bbox_mm: tuple[tuple[float, float, float], tuple[float, float, float]]
    settings: dict

    def bead_area(self, height: float) -> float:
        """Stadium bead cross-section (mm^2) for a layer of ``height`` mm (REFERENCE section 5)."""
        w = self.extrusion_width
        return w * height - height * height * (1.0 - math.pi / 4.0)


# ----------------------------------------------------------------------------------------------- placement
def place_on_bed(mesh: trimesh.Trimesh, printer: PrinterProfile) -> tuple[np.ndarray, np.ndarray]:
    """Vertices moved so the part's lowest point is at z=0 and its xy bounding box is centred on the bed.

    Returns (vertices, offset). Raises ExportError naming the axis and the overrun if it does not fit.
    """
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    size = hi - lo
    for axis, limit in zip("xyz", (printer.bed_x, printer.bed_y, printer.max_z), strict=True):
        extent = size["xyz".index(axis)]
        if extent > limit + 1e-6:
            raise ExportError(
                f"part is {extent:.2f} mm along {axis}, {extent - limit:.2f} mm more than printer "
                f"{printer.name!r} allows ({limit:g} mm)"
            )
    centre = np.array([printer.bed_x / 2.0, printer.bed_y / 2.0])
    offset = np.array([centre[0] - (lo[0] + hi[0]) / 2.0, centre[1] - (lo[1] + hi[1]) / 2.0, -lo[2]])
    return vertices + offset, offset


def layer_tops(height: float, layer_height: float, first_layer_height: float) -> np.ndarray:
    """Top z of each layer: a first layer, then ``layer_height`` steps; the count rounds the part height."""
    if height <= first_layer_height:
        return np.array([first_layer_height])
    n = 1 + max(0, math.floor((height - first_layer_height) / layer_height + 0.5))  # half rounds up
    return first_layer_height + layer_height * np.arange(n, dtype=np.float64)


# ----------------------------------------------------------------------------------------------- slicing
@numba.njit(cache=True)
def _chain_segments(start_edge, end_edge, layer_ptr, n_edges):
    """Chain oriented segments into rings layer by layer; a segment's end edge is the next one's start.

    Returns (order, ring_ptr, ring_layer, ring_closed): segments of ring r are order[ring_ptr[r]:ring_ptr[r+1]].
    """
    n = start_edge.size
    seg_of = np.full(n_edges, -1, np.int64)
    is_end = np.zeros(n_edges, np.bool_)
    used = np.zeros(n, np.bool_)
    order = np.empty(n, np.int64)
    ring_ptr = np.empty(n + 1, np.int64)
    ring_layer = np.empty(n, np.int64)
    ring_closed = np.empty(n, np.bool_)
    o = 0
    r = 0
    ring_ptr[0] = 0
    for layer in range(layer_ptr.size - 1):
        a = layer_ptr[layer]
        b = layer_ptr[layer + 1]
        for i in range(a, b):
            seg_of[start_edge[i]] = i
            is_end[end_edge[i]] = True
        # heads of open chains (a hole in the mesh) first, so each open chain comes out whole; then cycles
        for sweep in range(2):
            for i in range(a, b):
                if used[i] or (sweep == 0 and is_end[start_edge[i]]):
                    continue
                j = i
                while j >= 0 and not used[j]:
                    used[j] = True
                    order[o] = j
                    o += 1
                    j = seg_of[end_edge[j]]
                ring_layer[r] = layer
                ring_closed[r] = j == i
                r += 1
                ring_ptr[r] = o
        for i in range(a, b):
            seg_of[start_edge[i]] = -1
            is_end[end_edge[i]] = False
    return order, ring_ptr[: r + 1], ring_layer[:r], ring_closed[:r]


def section_layers(mesh: trimesh.Trimesh, vertices: np.ndarray, planes: np.ndarray) -> list[list[np.ndarray]]:
    """Closed outline rings (each (k, 2) mm) of the mesh cut by horizontal planes at heights ``planes``.

    A vertex counts as above a plane when z >= plane, so every crossed face has exactly two crossed edges
    and each crossing point is computed once per unique edge: rings close exactly, without tolerances.
    Segments are oriented by the face normal (outer contours counter-clockwise, holes clockwise).
    """
    faces = np.asarray(mesh.faces, dtype=np.int64)
    edges = np.asarray(mesh.edges_unique, dtype=np.int64)
    face_edges = np.asarray(mesh.faces_unique_edges, dtype=np.int64)  # edges (v0v1, v1v2, v2v0)
    vz = vertices[:, 2]
    fz = vz[faces]
    i0 = np.searchsorted(planes, fz.min(axis=1), side="right")
    i1 = np.searchsorted(planes, fz.max(axis=1), side="right")
    counts = i1 - i0
    face = np.repeat(np.arange(len(faces)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    layer = i0[face] + (np.arange(face.size) - first)
    order = np.argsort(layer, kind="stable")
    face, layer = face[order], layer[order]
    h = planes[layer]
    above = fz[face] >= h[:, None]
    n_above = above.sum(axis=1)
    lone_above = n_above == 1
    # the lone vertex is the one on its own side of the plane
    lone = np.where(lone_above, np.argmax(above, axis=1), np.argmin(above, axis=1))
    e_lp = face_edges[face, lone]  # edge (lone, next)
    e_ql = face_edges[face, (lone + 2) % 3]  # edge (previous, lone)
    start = np.where(lone_above, e_lp, e_ql)
    end = np.where(lone_above, e_ql, e_lp)
    xy = _edge_points(vertices, edges[start], h)  # a segment's start; its end is the next one's start
    layer_ptr = np.searchsorted(layer, np.arange(len(planes) + 1), side="left").astype(np.int64)
    seg_order, ring_ptr, ring_layer, closed = _chain_segments(start, end, layer_ptr, len(edges))
    rings: list[list[np.ndarray]] = [[] for _ in planes]
    for r in range(len(ring_layer)):
        a, b = ring_ptr[r], ring_ptr[r + 1]
        ring = xy[seg_order[a:b]]
        if not closed[r]:  # an open chain (hole in the mesh): keep its last end, close it with a chord
            last = seg_order[b - 1]
            ring = np.vstack([ring, _edge_points(vertices, edges[end[last : last + 1]], h[last : last + 1])])
        if len(ring) >= 3:
            rings[ring_layer[r]].append(ring)
    return rings


def _edge_points(vertices: np.ndarray, edges: np.ndarray, h: np.ndarray) -> np.ndarray:
    """xy where each edge (pairs of vertex ids) crosses its plane z = h."""
    za, zb = vertices[edges[:, 0], 2], vertices[edges[:, 1], 2]
    t = (h - za) / (zb - za)
    a = vertices[edges[:, 0], :2]
    return a + t[:, None] * (vertices[edges[:, 1], :2] - a)


def rings_to_region(rings: list[np.ndarray]) -> shapely.Geometry:
    """Even-odd region of non-crossing rings: a ring nested in an odd number of others is a hole."""
    if not rings:
        return shapely.Polygon()
    polys = [shapely.Polygon(r) for r in rings]
    if len(polys) == 1:
        region = polys[0]
    else:
        tree = shapely.STRtree(polys)
        probes = shapely.points(np.array([r[0] for r in rings]))
        inner, outer = tree.query(probes, predicate="within")
        depth = np.bincount(inner, minlength=len(polys))
        holes_of: dict[int, list[int]] = {}
        for i, o in zip(inner, outer, strict=True):
            if depth[i] % 2 == 1 and depth[o] == depth[i] - 1:
                holes_of.setdefault(int(o), []).append(int(i))
        shells = [
            shapely.Polygon(rings[i], [rings[j] for j in holes_of.get(i, [])])
            for i in range(len(polys))
            if depth[i] % 2 == 0
        ]
        region = shapely.MultiPolygon(shells) if len(shells) > 1 else shells[0]
    if not region.is_valid:
        region = shapely.make_valid(region)
        region = shapely.union_all([g for g in shapely.get_parts(region) if g.geom_type == "Polygon"])
    return region


# ----------------------------------------------------------------------------------------------- paths
def _rings_of(geom: shapely.Geometry) -> list[np.ndarray]:
    """Exterior then interior rings of every polygon in ``geom`` as closed (k, 2) arrays."""
    out = []
    for poly in shapely.get_parts(geom):
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        out.append(np.asarray(poly.exterior.coords)[:, :2])
        out.extend(np.asarray(r.coords)[:, :2] for r in poly.interiors)
    return out


def hatch(geom: shapely.Geometry, angle_deg: float, spacing: float) -> np.ndarray:
    """Parallel lines at ``angle_deg`` and ``spacing`` (mm) clipped to ``geom``: segments (n, 2, 2).

    A vectorised even-odd scanline fill: every ring edge is cut by the lines it spans (half-open in the
    line normal, so a vertex on a line counts once), crossings are sorted along each line and paired.
    Lines sit on a global grid (offsets (k + 1/2) spacing from the origin) so they line up between layers.
    """
    if geom.is_empty:
        return np.empty((0, 2, 2))
    a = math.radians(angle_deg)
    d = np.array([math.cos(a), math.sin(a)])  # line direction
    n = np.array([-d[1], d[0]])  # line normal
    rings = shapely.get_rings(shapely.get_parts(geom))  # get_rings only looks inside Polygons
    xy, ring_id = shapely.get_coordinates(rings, return_index=True)
    same = ring_id[1:] == ring_id[:-1]
    p0, p1 = xy[:-1][same], xy[1:][same]
    u0, u1, v0, v1 = p0 @ d, p1 @ d, p0 @ n, p1 @ n
    lo = np.ceil(np.minimum(v0, v1) / spacing - 0.5).astype(np.int64)
    hi = np.ceil(np.maximum(v0, v1) / spacing - 0.5).astype(np.int64)  # exclusive
    count = np.maximum(hi - lo, 0)
    if count.sum() == 0:
        return np.empty((0, 2, 2))
    edge = np.repeat(np.arange(len(count)), count)
    k = lo[edge] + (np.arange(edge.size) - np.repeat(np.cumsum(count) - count, count))
    v = (k + 0.5) * spacing
    u = u0[edge] + (v - v0[edge]) / (v1[edge] - v0[edge]) * (u1[edge] - u0[edge])
    order = np.lexsort((u, k))
    u, v = u[order].reshape(-1, 2), v[order].reshape(-1, 2)
    keep = u[:, 1] - u[:, 0] > 1e-6
    u, v = u[keep], v[keep]
    segs = u[:, :, None] * d + v[:, :, None] * n
    return segs


@numba.njit(cache=True)
def _order_segments(segs, x0, y0):
    """Greedy nearest-end ordering of segments from (x0, y0); flips a segment to start at its near end."""
    n = segs.shape[0]
    used = np.zeros(n, np.bool_)
    out = np.empty_like(segs)
    cx, cy = x0, y0
    for k in range(n):
        best = -1
        best_d = 1e300
        flip = False
        for i in range(n):
            if used[i]:
                continue
            d0 = (segs[i, 0, 0] - cx) ** 2 + (segs[i, 0, 1] - cy) ** 2
            d1 = (segs[i, 1, 0] - cx) ** 2 + (segs[i, 1, 1] - cy) ** 2
            if d0 < best_d:
                best_d, best, flip = d0, i, False
            if d1 < best_d:
                best_d, best, flip = d1, i, True
        used[best] = True
        if flip:
            out[k, 0] = segs[best, 1]
            out[k, 1] = segs[best, 0]
        else:
            out[k] = segs[best]
        cx, cy = out[k, 1, 0], out[k, 1, 1]
    return out


def connect_lines(segs: np.ndarray, area: shapely.Geometry, max_gap: float, trim: float) -> list[np.ndarray]:
    """Join consecutive ordered segments into zig-zag polylines where the connector is short
    (<= ``max_gap`` mm) and lies inside ``area``; this saves a travel and a retraction per infill line
    (PrusaSlicer anchors its infill lines along the perimeter for the same reason).

    Joined ends are pulled back ``trim`` mm along their line, so the connector runs inside the area's edge
    and fills the strip between the line ends and the perimeters instead of doubling up on the perimeter
    (trim = s/sqrt(2) puts it s/2 inside an edge at 45 degrees to the lines); unjoined ends stay on the edge.
    """
    n = len(segs)
    segs = segs.copy()
    join = np.zeros(max(n - 1, 0), dtype=bool)
    if n > 1:
        vec = segs[:, 1] - segs[:, 0]
        length = np.hypot(*vec.T)
        unit = vec / np.maximum(length, 1e-12)[:, None]
        long_enough = length > 2.0 * trim + 1e-3
        gap = np.hypot(*(segs[1:, 0] - segs[:-1, 1]).T)
        cand = np.flatnonzero((gap <= max_gap) & long_enough[:-1] & long_enough[1:])
        if len(cand):
            a = segs[cand, 1] - unit[cand] * trim
            b = segs[cand + 1, 0] + unit[cand + 1] * trim
            shapely.prepare(area)  # trimmed connectors lie inside the edge, so no tolerance is needed
            ok = shapely.covers(area, shapely.linestrings(np.stack([a, b], axis=1)))
            join[cand[ok]] = True
            segs[cand[ok], 1] = a[ok]
            segs[cand[ok] + 1, 0] = b[ok]
    cuts = np.flatnonzero(~join) + 1
    return [g.reshape(-1, 2) for g in np.split(segs, cuts)]


def _loop_from(ring: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """A closed ring re-started at its vertex nearest ``pos`` (the seam), ending where it began."""
    pts = ring[:-1] if (ring[0, 0] == ring[-1, 0] and ring[0, 1] == ring[-1, 1]) else ring
    k = int(np.argmin(((pts - pos) ** 2).sum(axis=1)))
    pts = np.roll(pts, -k, axis=0)
    return np.vstack([pts, pts[:1]])


# ----------------------------------------------------------------------------------------------- slicing entry
def check_settings(
    printer: PrinterProfile,
    layer_height: float | None = None,
    infill: float = 0.2,
    infill_pattern: str = "rectilinear",
    perimeters: int = 2,
    top_layers: int = 4,
    bottom_layers: int = 4,
) -> float:
    """Refuse settings the slicer cannot use (ExportError, one line); return the layer height in mm."""
    lh = printer.layer_height if layer_height is None else float(layer_height)
    if not lh > 0:
        raise ExportError(f"layer height must be positive, got {lh:g} mm")
    if lh > printer.nozzle_diameter:
        raise ExportError(
            f"layer height {lh:g} mm is larger than the nozzle ({printer.nozzle_diameter:g} mm)"
        )
    if not 0.0 <= infill <= 1.0:
        raise ExportError(f"infill must be between 0 and 1 (a fraction), got {infill:g}")
    if infill_pattern not in INFILL_PATTERNS:
        raise ExportError(f"unknown infill pattern {infill_pattern!r} (choose {', '.join(INFILL_PATTERNS)})")
    for name, value in (
        ("perimeters", perimeters),
        ("top_layers", top_layers),
        ("bottom_layers", bottom_layers),
    ):
        if int(value) != value or value < 0:
            raise ExportError(f"{name} must be a non-negative integer, got {value!r}")
    return lh


def slice_mesh(
    mesh: trimesh.Trimesh,
    printer: PrinterProfile,
    *,
    layer_height: float | None = None,
    infill: float = 0.2,
    infill_pattern: str = "rectilinear",
    perimeters: int = 2,
    top_layers: int = 4,
    bottom_layers: int = 4,
) -> Toolpaths:
    """Slice a mesh (mm) for ``printer``: the part is dropped to z=0 and centred on the bed.

    ``infill`` is the sparse-infill density (0..1; 1 makes every layer solid); ``rectilinear`` infill
    alternates +45/-45 degree lines between layers, ``grid`` prints both every layer.
    """
    lh = check_settings(printer, layer_height, infill, infill_pattern, perimeters, top_layers, bottom_layers)
    if mesh is None or len(getattr(mesh, "faces", [])) == 0:
        raise ExportError("mesh is empty: nothing to slice")
    vertices, offset = place_on_bed(mesh, printer)
    height = float(vertices[:, 2].max())
    if height <= 0:
        raise ExportError("mesh is flat (zero height): nothing to slice")
    first_h = min(printer.first_layer_height, printer.nozzle_diameter)
    tops = layer_tops(height, lh, first_h)
    heights = np.diff(np.concatenate([[0.0], tops]))
    planes = np.minimum(tops - heights / 2.0, height - 1e-6)
    rings = section_layers(mesh, vertices, planes)
    regions = [rings_to_region(r) for r in rings]
    if all(r.is_empty for r in regions):
        raise ExportError("slicing found no closed outlines: is the mesh watertight?")

    w = printer.extrusion_width
    spacing = [w - h * (1.0 - math.pi / 4.0) for h in heights]
    n_layers = len(tops)
    # perimeters and the area left inside them
    # all layers' offsets in one vectorised GEOS call per perimeter
    region_arr = np.array(regions, dtype=object)
    s_arr = np.array(spacing)
    loops_by_k = [
        shapely.buffer(region_arr, -(0.5 + k) * s_arr, join_style="mitre", mitre_limit=2.0)
        for k in range(perimeters)
    ]
    perimeter_geoms = [[loops_by_k[k][i] for k in range(perimeters)] for i in range(n_layers)]
    infill_areas = list(shapely.buffer(region_arr, -perimeters * s_arr, join_style="mitre", mitre_limit=2.0))
    shapely.prepare(regions)

    paths_by_layer: list[Layer] = []
    pos = np.array([0.0, 0.0])
    min_area = 2.0 * w * w
    for i in range(n_layers):
        s = spacing[i]
        area = infill_areas[i]
        top_solid, solid, sparse = _classify(i, area, regions, top_layers, bottom_layers, infill, min_area)
        angle = 45.0 if i % 2 == 0 else -45.0
        paths: list[ExtrusionPath] = []
        # perimeters: inner loops first, the external loop last (as PrusaSlicer does)
        for k in reversed(range(perimeters)):
            role = "external_perimeter" if k == 0 else "perimeter"
            for ring in _rings_of(perimeter_geoms[i][k]):
                loop = _loop_from(ring, pos)
                paths.append(ExtrusionPath(loop, role))
                pos = loop[-1]
        for geom, role, spacing_k in _infill_jobs(solid, top_solid, sparse, s, infill, infill_pattern):
            for ang in (angle,) if role != "infill" or infill_pattern == "rectilinear" else (45.0, -45.0):
                segs = hatch(geom, ang, spacing_k)
                if len(segs):
                    segs = _order_segments(np.ascontiguousarray(segs), pos[0], pos[1])
                    polylines = connect_lines(segs, geom, CONNECT_FACTOR * spacing_k, s / math.sqrt(2.0))
                    paths.extend(ExtrusionPath(line, role) for line in polylines)
                    pos = segs[-1, 1]
        paths_by_layer.append(Layer(float(tops[i]), float(heights[i]), paths))

    lo = vertices.min(axis=0)
    hi = vertices.max(axis=0)
    return Toolpaths(
        layers=paths_by_layer,
        extrusion_width=w,
        offset_mm=tuple(float(v) for v in offset),
        part_volume_mm3=float(abs(mesh.volume)) if mesh.is_volume else float("nan"),
        part_bbox_mm=(tuple(float(v) for v in lo), tuple(float(v) for v in hi)),
        settings=dict(
            layer_height=lh,
            first_layer_height=first_h,
            infill=float(infill),
            infill_pattern=infill_pattern,
            perimeters=int(perimeters),
            top_layers=int(top_layers),
            bottom_layers=int(bottom_layers),
        ),
    )


def _uncovered(area: shapely.Geometry, regions: list, layers: range) -> list[shapely.Geometry]:
    """Parts of ``area`` outside the outline of each of ``layers`` (all of it past the part's ends)."""
    out = []
    for j in layers:
        if j < 0 or j >= len(regions):
            return [area]
        if not regions[j].contains(area):
            out.append(shapely.difference(area, regions[j]))
    return out


def _classify(i, area, regions, top_layers, bottom_layers, infill, min_area):
    """Split layer ``i``'s infill area into (top surface, other solid, sparse).

    The top surface is what the layer above does not cover. Solid is every point within ``top_layers``
    below a top or ``bottom_layers`` above a bottom, grown by SOLID_MARGIN_MM into the sparse area so
    solid skins anchor on the walls (PrusaSlicer's external-surface margin does the same).
    """
    empty = shapely.Polygon()
    if area.is_empty:
        return empty, empty, empty
    top = _drop_small(shapely.union_all(_uncovered(area, regions, range(i + 1, i + 2))), min_area)
    if infill >= 1.0 - _EPS:
        return top, _drop_small(shapely.difference(area, top), min_area), empty
    cuts = _uncovered(area, regions, range(i + 1, i + top_layers + 1)) if top_layers else []
    cuts += _uncovered(area, regions, range(i - bottom_layers, i)) if bottom_layers else []
    cuts = [c for c in cuts if not c.is_empty]
    if not cuts:
        return top, empty, area
    solid = shapely.union_all(cuts)
    if not solid.equals(area):
        solid = shapely.intersection(shapely.buffer(solid, SOLID_MARGIN_MM, join_style="mitre"), area)
    solid = _drop_small(shapely.difference(solid, top), min_area)
    sparse = _drop_small(shapely.difference(area, shapely.union(solid, top)), min_area)
    return top, solid, sparse


def _infill_jobs(solid, top_solid, sparse, s, infill, pattern):
    """(area, role, line spacing) to hatch in one layer: solid at the bead spacing, sparse at s/density."""
    jobs = []
    if not solid.is_empty:
        jobs.append((solid, "solid_infill", s))
    if not top_solid.is_empty:
        jobs.append((top_solid, "top_solid_infill", s))
    if not sparse.is_empty and infill > _EPS:
        # grid prints both directions every layer, so each direction gets half the density
        jobs.append((sparse, "infill", s / infill * (2.0 if pattern == "grid" else 1.0)))
    return jobs


def _drop_small(geom: shapely.Geometry, min_area: float) -> shapely.Geometry:
    """``geom`` without polygons smaller than ``min_area`` mm^2 (slivers left by boolean ops)."""
    if geom.is_empty:
        return geom
    parts = shapely.get_parts(geom)
    parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) >= min_area)]
    if len(parts) == 0:
        return shapely.Polygon()
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(list(parts))
