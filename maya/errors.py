"""Errors that end a workflow step with a one-line, human-readable message."""


class MayaError(Exception):
    """An input problem the user can fix; the message names the file and the reason."""
