"""The exception that ends a multi-solve test (failure, shear, impact) stopped from the live view."""

from __future__ import annotations


class LiveStopped(Exception):
    """Raised from the solver's progress callback; the test reports the state it had reached."""

    def __init__(self, label: str, step: int) -> None:
        super().__init__(f"stopped from the live view during {label}")
        self.label, self.step = label, step
