"""CNC tool profiles (TOML): cutter or beam geometry plus feeds and speeds for 2.5D profile cutting.

Built-in profiles live in ``exporters/tools/<name>.toml``; ``load_tool`` takes a built-in name, a path
to a TOML file, or a ``Tool``. Fields (lengths mm, feeds mm/min):

- ``name``, ``kind`` (``endmill``, ``laser`` or ``waterjet``), ``description``
- ``diameter_mm``: cutter diameter, or kerf width for a beam; compensation offsets by half of it
- ``feed_mm_min``, ``plunge_mm_min`` (end mills)
- ``spindle_rpm`` (end mills) or ``power_percent`` of ``max_s`` (beams; S word = power * max_s / 100)
- ``depth_per_pass_mm``, ``safe_z_mm`` (end mills), ``passes`` (beams: repeats of each contour)
- ``lead_in_mm``, ``tab_width_mm`` (length of material left per tab), ``tab_height_mm`` (end mills)
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from exporters.errors import ExportError

TOOLS_DIR = Path(__file__).resolve().parent / "tools"
KINDS = ("endmill", "laser", "waterjet")


@dataclass(frozen=True)
class Tool:
    """A cutting tool profile; see the module docstring for the fields and their units."""

    name: str
    kind: str
    diameter_mm: float
    feed_mm_min: float
    description: str = ""
    plunge_mm_min: float = 0.0
    spindle_rpm: float = 0.0
    power_percent: float = 100.0
    max_s: float = 1000.0
    depth_per_pass_mm: float = 0.0
    safe_z_mm: float = 5.0
    passes: int = 1
    lead_in_mm: float = 1.0
    tab_width_mm: float = 0.0
    tab_height_mm: float = 0.0

    @property
    def radius_mm(self) -> float:
        return self.diameter_mm / 2.0

    @property
    def is_beam(self) -> bool:
        """Lasers and waterjets cut through in one pass per contour and have no Z passes."""
        return self.kind != "endmill"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ExportError(
                f"tool {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}"
            )
        positive = ["diameter_mm", "feed_mm_min"]
        if self.kind == "endmill":
            positive += ["plunge_mm_min", "spindle_rpm", "depth_per_pass_mm", "safe_z_mm"]
        for key in positive:
            value = getattr(self, key)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ExportError(f"tool {self.name!r}: {key} must be a positive number, got {value!r}")
        for key in ("lead_in_mm", "tab_width_mm", "tab_height_mm"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ExportError(f"tool {self.name!r}: {key} must be >= 0, got {value!r}")
        if not 0 < self.power_percent <= 100:
            raise ExportError(
                f"tool {self.name!r}: power_percent must be in (0, 100], got {self.power_percent}"
            )
        if not isinstance(self.passes, int) or self.passes < 1:
            raise ExportError(f"tool {self.name!r}: passes must be a positive integer, got {self.passes!r}")


def list_tools() -> list[str]:
    """Names of the built-in tool profiles."""
    return sorted(p.stem for p in TOOLS_DIR.glob("*.toml"))


def load_tool(tool: str | os.PathLike[str] | Tool) -> Tool:
    """A ``Tool`` from a built-in name (see ``list_tools()``), a TOML file path, or a ``Tool`` (returned as is)."""
    if isinstance(tool, Tool):
        return tool
    path = Path(tool)
    if path.suffix.lower() != ".toml" and not path.exists():
        path = TOOLS_DIR / f"{tool}.toml"
        if not path.exists():
            raise ExportError(f"unknown tool {str(tool)!r}; built-in tools: {', '.join(list_tools())}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"tool profile not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path}: not a valid TOML tool profile ({exc})") from None
    data.setdefault("name", path.stem)
    known = {f.name for f in dataclasses.fields(Tool)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ExportError(f"{path}: unknown tool field(s) {', '.join(unknown)}")
    missing = [k for k in ("kind", "diameter_mm", "feed_mm_min") if k not in data]
    if missing:
        raise ExportError(f"{path}: missing tool field(s) {', '.join(missing)}")
    return Tool(**data)
