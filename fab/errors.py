"""User-facing errors.

A :class:`FabError` carries a one-line message meant for the person running ``fab``: the CLI prints
it and exits with status 2, without a traceback. Raise it for bad input (missing file, wrong format,
impossible grid size, malformed job file); let programming errors surface as ordinary exceptions.
"""

from __future__ import annotations


class FabError(Exception):
    """An error caused by the user's input, reported as one line and exit status 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # Keep it to one line: the CLI prints exactly this.
        super().__init__(" ".join(str(message).split()))


def user_errors() -> tuple[type[Exception], ...]:
    """Every exception type whose message is meant for the user (the CLI reports these in one line)."""
    from exporters.errors import ExportError
    from geometry.errors import GeometryError
    from physics.errors import PhysicsError

    return (FabError, ExportError, GeometryError, PhysicsError)
