"""Errors raised by exporters for input they cannot turn into a file (empty grid, part off the bed...)."""


class ExportError(ValueError):
    """Bad input for an exporter; the message is one line a user can act on."""
