"""VoxCAD / voxcraft-sim ``.vxa`` (and ``.vxc``) XML: a voxel lattice with a material palette, as the Voxelyze
family of lattice simulators reads it.

Layout (VXA 1.1 / VXC 0.94): ``<VXA>`` holds ``<Environment>`` (gravity, floor) and ``<VXC>``; ``<VXC>`` holds
``<Lattice><Lattice_Dim>`` (voxel edge, m), ``<Palette>`` (``<Material ID="k">``: name, display colour and
``<Mechanical>``: MatModel, Elastic_Mod Pa, Poissons_Ratio, Density kg/m^3, Fail_Stress Pa, CTE, uStatic,
uDynamic) and ``<Structure Compression="ASCII_READABLE">`` with X/Y/Z_Voxels and one ``<Layer>`` per z of
characters, x fastest then y: '0' empty, chr(ord('0') + k) material k (k = 1..74). A ``.vxc`` file is the
``<VXC>`` element alone.

Lengths: the caller gives mm, the file holds metres (converted here, once).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exporters.atomic import atomic_open
from exporters.errors import ExportError

MAX_MATERIALS = 74  # '1' .. 'z'
COLOURS = [(0.2, 0.5, 0.9), (0.9, 0.4, 0.2), (0.3, 0.8, 0.3), (0.8, 0.8, 0.2), (0.6, 0.3, 0.8), (0.5, 0.5, 0.5)]


@dataclass(frozen=True)
class VxaMaterial:
    """A palette entry in SI: Young's modulus Pa, density kg/m^3, failure stress Pa (0: never fails)."""

    name: str
    elastic_modulus: float
    density: float
    poissons_ratio: float = 0.35
    fail_stress: float = 0.0


def _text(parent: ET.Element, tag: str, value) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = str(value)
    return el


def vxc_element(ids: np.ndarray, pitch_mm: float, materials: list[VxaMaterial]) -> ET.Element:
    """The ``<VXC>`` element of a (nx, ny, nz) grid of material ids (0 empty, k = materials[k - 1])."""
    ids = np.asarray(ids)
    if ids.ndim != 3 or not np.issubdtype(ids.dtype, np.integer) or ids.size == 0:
        raise ExportError(f"a .vxa lattice needs a 3D integer grid of material ids, got {ids.dtype} {ids.shape}")
    if not materials or len(materials) > MAX_MATERIALS:
        raise ExportError(f"a .vxa palette holds 1 to {MAX_MATERIALS} materials, got {len(materials)}")
    if ids.min() < 0 or ids.max() > len(materials):
        raise ExportError(f"material ids must be 0 (empty) .. {len(materials)}")
    if not (np.isfinite(pitch_mm) and pitch_mm > 0):
        raise ExportError(f"pitch must be positive, got {pitch_mm}")
    vxc = ET.Element("VXC", Version="0.94")
    lattice = ET.SubElement(vxc, "Lattice")
    _text(lattice, "Lattice_Dim", repr(pitch_mm * 1e-3))
    voxel = ET.SubElement(vxc, "Voxel")
    _text(voxel, "Vox_Name", "BOX")
    palette = ET.SubElement(vxc, "Palette")
    for k, mat in enumerate(materials, start=1):
        el = ET.SubElement(palette, "Material", ID=str(k))
        _text(el, "MatType", 0)
        _text(el, "Name", mat.name)
        display = ET.SubElement(el, "Display")
        r, g, b = COLOURS[(k - 1) % len(COLOURS)]
        _text(display, "Red", r), _text(display, "Green", g), _text(display, "Blue", b), _text(display, "Alpha", 1)
        mech = ET.SubElement(el, "Mechanical")
        _text(mech, "MatModel", 1 if mat.fail_stress > 0 else 0)
        _text(mech, "Elastic_Mod", repr(float(mat.elastic_modulus)))
        _text(mech, "Fail_Stress", repr(float(mat.fail_stress)))
        _text(mech, "Density", repr(float(mat.density)))
        _text(mech, "Poissons_Ratio", repr(float(mat.poissons_ratio)))
        _text(mech, "CTE", 0)
        _text(mech, "uStatic", 1)
        _text(mech, "uDynamic", 0.5)
    structure = ET.SubElement(vxc, "Structure", Compression="ASCII_READABLE")
    nx, ny, nz = ids.shape
    _text(structure, "X_Voxels", nx), _text(structure, "Y_Voxels", ny), _text(structure, "Z_Voxels", nz)
    data = ET.SubElement(structure, "Data")
    chars = np.array([chr(ord("0") + k) for k in range(MAX_MATERIALS + 1)])
    for z in range(nz):
        _text(data, "Layer", "".join(chars[ids[:, :, z].T.ravel()]))  # x fastest, then y
    return vxc


def write_vxa(
    path: str | os.PathLike[str],
    ids: np.ndarray,
    pitch_mm: float,
    materials: list[VxaMaterial],
    gravity: float = -9.81,
) -> None:
    """Write ``.vxa`` (simulation file: gravity along z and a floor, then the lattice) or ``.vxc`` (lattice only),
    by the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".vxa", ".vxc"):
        raise ExportError(f"{path}: expected a .vxa or .vxc file name")
    vxc = vxc_element(ids, pitch_mm, materials)
    if suffix == ".vxc":
        root = vxc
    else:
        root = ET.Element("VXA", Version="1.1")
        env = ET.SubElement(root, "Environment")
        grav = ET.SubElement(env, "Gravity")
        _text(grav, "GravEnabled", int(gravity != 0))
        _text(grav, "GravAcc", repr(float(gravity)))
        _text(grav, "FloorEnabled", 1)
        root.append(vxc)
    ET.indent(root, space=" ")
    with atomic_open(path, "w", encoding="ISO-8859-1") as fh:
        fh.write('<?xml version="1.0" encoding="ISO-8859-1"?>\n')
        fh.write(ET.tostring(root, encoding="unicode"))
        fh.write("\n")


def read_vxa(path: str | os.PathLike[str]) -> tuple[np.ndarray, float, list[VxaMaterial]]:
    """(material ids (nx, ny, nz), pitch mm, palette) of a ``.vxa`` or ``.vxc`` file (ASCII_READABLE layers)."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise ExportError(f"file not found: {path}") from None
    except ET.ParseError as exc:
        raise ExportError(f"{path}: not XML: {exc}") from None
    vxc = root if root.tag == "VXC" else root.find("VXC")
    if vxc is None:
        raise ExportError(f"{path}: no <VXC> element")
    try:
        pitch_mm = float(vxc.findtext("Lattice/Lattice_Dim")) * 1e3
        structure = vxc.find("Structure")
        nx, ny, nz = (int(structure.findtext(t)) for t in ("X_Voxels", "Y_Voxels", "Z_Voxels"))
        if structure.get("Compression", "ASCII_READABLE") != "ASCII_READABLE":
            raise ExportError(f"{path}: only ASCII_READABLE structures are read")
        layers = [layer.text or "" for layer in structure.findall("Data/Layer")]
        materials = []
        for el in vxc.findall("Palette/Material"):
            mech = el.find("Mechanical")
            materials.append(VxaMaterial(
                el.findtext("Name") or f"material-{el.get('ID')}",
                float(mech.findtext("Elastic_Mod")), float(mech.findtext("Density")),
                float(mech.findtext("Poissons_Ratio") or 0.35), float(mech.findtext("Fail_Stress") or 0.0),
            ))  # fmt: skip
    except (AttributeError, TypeError, ValueError):
        raise ExportError(f"{path}: missing or malformed lattice, structure or palette fields") from None
    if len(layers) != nz or any(len(layer) != nx * ny for layer in layers):
        raise ExportError(f"{path}: expected {nz} layers of {nx * ny} characters")
    ids = np.zeros((nx, ny, nz), dtype=np.int64)
    for z, layer in enumerate(layers):
        ids[:, :, z] = (np.frombuffer(layer.encode("latin-1"), dtype=np.uint8).astype(np.int64) - ord("0")).reshape(
            ny, nx
        ).T
    return ids, pitch_mm, materials
