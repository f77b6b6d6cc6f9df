"""Errors raised by the particle engine for problems a user can fix (unstable step, empty body...)."""


class PhysicsError(RuntimeError):
    """A simulation that cannot run or that blew up; the message names the cause and the fix."""
