"""The error of impossible geometry (a gear with too few teeth, a backlash wider than the tooth): one line, meant
for the person who asked for it. fab reports it like its own errors (fab.errors.user_errors)."""

from __future__ import annotations


class GeometryError(ValueError):
    """Geometry that cannot exist, with a one-line message."""
