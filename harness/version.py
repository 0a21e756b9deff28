"""Installed distributions' versions, as results files and ``dalperf --version`` show them.

:mod:`importlib.metadata` (and the ``email`` package behind it) loads on the first call, not
with this module: the command-line modules import it, and ``dalperf --help`` needs no version.
"""

from __future__ import annotations


def package_version(name: str) -> str:
    """The version pip installed of distribution ``name``, or ``unknown``."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def installed_version() -> str:
    """dalperf's own version (``unknown`` when run from a bare source tree)."""
    return package_version("dalperf")
