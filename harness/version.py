"""Installed distributions' versions, as results files and ``dalperf --version`` show them."""

from __future__ import annotations

from importlib import metadata


def package_version(name: str) -> str:
    """The version pip installed of distribution ``name``, or ``unknown``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def installed_version() -> str:
    """dalperf's own version (``unknown`` when run from a bare source tree)."""
    return package_version("dalperf")
