"""The one adapter that names the default case study: the render app shipped in ``dalperf.scenarios``.

The engine never imports :mod:`dalperf.scenarios` or :mod:`dalperf.seed`; the commands that
default to the case study (``run``, ``audit``, ``seed``, ``load``) ask this module, which
imports them only when called (a test guards both rules).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dalperf.db.targets import Target
    from dalperf.seed.loader import ProgressCallback, SeedReport

SCENARIOS = "dalperf.scenarios"
APP = "dalperf.scenarios.app:app"
DEFAULT_SEED = 0
DATA_FEATURE = "the case-study demo data"
DATA_EXTRA = "server"  # numpy comes with the embedded server the demo runs on


def locustfile() -> Path:
    """The case study's locustfile, beside its scenario modules."""
    import dalperf.scenarios

    return Path(dalperf.scenarios.__file__).with_name("locustfile.py")


def require_data_generator() -> None:
    """The data generator draws with numpy: without it, :class:`~dalperf.errors.MissingExtra`
    naming the extra that brings it."""
    from dalperf.errors import require

    require(DATA_EXTRA, "numpy", feature=DATA_FEATURE)


def check_parameters(*, scale: float, seed: int) -> None:
    """Refuse a scale or seed the data generator cannot use (:class:`UsageError`)."""
    require_data_generator()
    from dalperf.seed.generate import check_parameters as check

    check(scale=scale, seed=seed)


def seed(
    target: Target,
    *,
    scale: float,
    seed: int,
    reset: bool,
    progress: ProgressCallback | None = None,
) -> SeedReport:
    """Load the case-study data into ``target`` (see :func:`dalperf.seed.loader.seed_database`)."""
    require_data_generator()
    from dalperf.seed.loader import seed_database

    return seed_database(target, scale=scale, seed=seed, reset=reset, progress=progress)


def current_seed(target: Target) -> tuple[float, int] | None:
    """``(scale, seed)`` of the case-study data in ``target``, or None when there is none."""
    from dalperf.seed.loader import current_seed as current

    return current(target)


def environment(target: Target) -> dict[str, Any]:
    """Scale and seed of the case-study data, which must be there to draw inputs from."""
    from dalperf.errors import UsageError

    seeded = current_seed(target)
    if seeded is None:
        raise UsageError("the database holds no case-study data; run `dalperf seed` first")
    scale, data_seed = seeded
    return {"scale": scale, "seed": data_seed}
