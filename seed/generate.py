"""Deterministic generation of the case-study data from ``(scale, seed)``.

The same ``(scale, seed)`` always yields the same rows, byte for byte: every value comes
from numpy's PCG64 generator (one independent stream per table, so changing how one
table is drawn does not shift the others), timestamps are offsets from the fixed
:data:`DATASET_NOW` instead of the clock, and nothing depends on ``hash()`` or set order.
Generation is vectorised, so a million renders take about a second.

The data is skewed the way real apps are: the first :data:`POWER_USER_SHARE` of users own
most projects and renders, chains run from 1 to :data:`LONGEST_CHAIN` renders (with at
least :data:`MIN_CHAINS_OF_50` of exactly 50), and some gallery items share a
``created_at`` so that keyset pagination must break ties on ``id``.

Columns are numpy arrays: ``int64``/``int32``/``bool``, ``datetime64[us]`` (UTC) for
timestamps, ``object`` arrays of ``str`` for text and JSON, and ``numpy.ma`` masked arrays
(or ``None`` entries in object arrays) for NULLs.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dalperf.errors import UsageError

DATASET_NOW = np.datetime64("2025-01-01T00:00:00", "us")  # the data's "now"; all of it lies before
# Every table's rows at scale 1, and what a row costs (measured: 71,606 rows at scale 0.5;
# generate() peaked at 16.8 MB of Python memory, the database took 40 MB with its indexes).
ROWS_PER_SCALE = 143_212
MEMORY_BYTES_PER_ROW = 600  # generate()'s ~235 bytes, and the COPY text and buffers after it
DISK_BYTES_PER_ROW = 800  # the database's ~560 bytes, and room for VACUUM and the WAL
USERS_PER_SCALE = 1_000
PROJECTS_PER_SCALE = 5_000
RENDERS_PER_SCALE = 100_000

POWER_USER_SHARE = 0.02
POWER_PROJECT_SHARE = 0.6  # of all projects, owned by the power users
OWNER_ZIPF_EXPONENT = 0.9  # ordinary users' share of projects falls off as 1 / rank**s
PROJECT_PARETO_SHAPE = 1.16  # render counts per project: the 80/20 shape
PROJECT_WEIGHT_CAP = 100.0

CHAINED_RENDER_SHARE = 0.6
MIN_CHAINS_OF_50 = 3
CHAINS_OF_50_PER_SCALE = 4
LONGEST_CHAIN = 80
LONG_CHAIN_SHARE = 0.1  # of the other chains, 20..LONGEST_CHAIN renders; the rest are short
SHORT_CHAIN_P = 0.15  # geometric: mean length ~6.7
SHORT_CHAIN_CAP = 40
PARENT_IS_PREVIOUS = 0.85  # chained renders: parent is the previous render in the chain
PARENT_IS_EARLIER = 0.10  # ... or an earlier one in the chain; otherwise none
UNCHAINED_PARENT_SHARE = 0.10
REFERENCE_SHARE = 0.20

RENDER_STATUS_WEIGHTS = {"pending": 0.04, "processing": 0.03, "completed": 0.80, "failed": 0.13}
GALLERY_SHARE = 0.3  # of renders (drawn from the completed ones)
PUBLIC_SHARE = 0.8
GALLERY_TIE_SHARE = 0.1  # public items given the created_at of their successor

NO_SUBSCRIPTION_SHARE = 0.25
SUBSCRIPTION_HISTORY_SHARE = 0.3
CURRENT_STATUS_WEIGHTS = {"active": 0.75, "past_due": 0.10, "canceled": 0.15}
PLAN_WEIGHTS = (0.25, 0.35, 0.30, 0.10)
CREDITS_NEVER_RESET_SHARE = 0.05
CREDITS_OVERDUE_SHARE = 0.2

# name, price in cents, monthly credits; ids 1.. in this order
PLANS: tuple[tuple[str, int, int], ...] = (
    ("free", 0, 50),
    ("starter", 900, 200),
    ("pro", 2900, 1_000),
    ("studio", 7900, 5_000),
)
POWER_PLAN = "studio"

SECOND = 1_000_000  # microseconds
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
PERIOD = 30 * DAY

_FIRST_NAMES = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Donald",
    "Hedy",
    "Tim",
    "Katherine",
    "John",
    "Joan",
    "Guido",
    "Sophie",
    "Bjarne",
    "Lynn",
    "Niklaus",
    "Mary",
    "Leslie",
)
_LAST_NAMES = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Knuth",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "McCarthy",
    "Clarke",
    "van Rossum",
    "Wilson",
    "Stroustrup",
    "Conway",
    "Wirth",
    "Keller",
    "Lamport",
)
_SUBJECTS = (
    "a lighthouse at dusk",
    "a red fox in snow",
    "a cyberpunk street",
    "an old library",
    "a mountain lake",
    "a robot gardener",
    "a desert caravan",
    "a koi pond",
    "a floating city",
    "a jazz club",
    "a greenhouse",
    "a tiny dragon",
    "a harbour at dawn",
    "a forest cabin",
    "a space station",
    "a night market",
    "a glass teapot",
    "a vintage car",
    "an ice cave",
    "a sunflower field",
)
_STYLES = (
    "watercolor",
    "oil painting",
    "isometric 3d",
    "studio photo",
    "pixel art",
    "ink sketch",
    "low poly",
    "film still",
    "ukiyo-e",
    "claymation",
)
_PROJECT_WORDS = (
    (
        "Autumn",
        "Brand",
        "Client",
        "Concept",
        "Dream",
        "Moody",
        "Personal",
        "Retro",
        "Spring",
        "Summer",
        "Winter",
        "Wild",
    ),
    (
        "Moodboard",
        "Campaign",
        "Sketches",
        "Posters",
        "Portraits",
        "Landscapes",
        "Covers",
        "Storyboard",
        "Explorations",
        "Series",
    ),
)
# SQL NULL in a column built with ``np.where`` (a 0-d object array broadcasts like ``None``)
_NULL = np.array(None, dtype=object)
_MODELS = ("sd-xl", "flux-dev", "flux-pro", "imagen-3")
_SIZES = ((512, 512), (768, 768), (1024, 1024), (1024, 1536))
_STEPS = (20, 30, 50)
_ERRORS = (
    "GPU worker timed out",
    "content policy violation",
    "out of memory",
    "invalid reference image",
    "upstream provider unavailable",
)

Columns = dict[str, np.ndarray]
_TIME_SUFFIXES = ("_at", "_start", "_end")  # columns holding microsecond offsets until the end


@dataclass(frozen=True, kw_only=True)
class Sizes:
    """How many users, projects and renders a scale factor means."""

    users: int
    projects: int
    renders: int

    @classmethod
    def for_scale(cls, scale: float) -> Sizes:
        check_parameters(scale=scale, seed=0)
        return cls(
            users=max(1, round(USERS_PER_SCALE * scale)),
            projects=max(1, round(PROJECTS_PER_SCALE * scale)),
            renders=max(1, round(RENDERS_PER_SCALE * scale)),
        )


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """Every table's rows as columns, in load order (a table after those it references)."""

    scale: float
    seed: int
    tables: dict[str, Columns]

    def row_counts(self) -> dict[str, int]:
        return {name: len(next(iter(columns.values()))) for name, columns in self.tables.items()}


def check_parameters(*, scale: float, seed: int) -> None:
    """Raise :class:`UsageError` unless ``scale`` is a finite number > 0 whose rows fit in
    the memory available now (:func:`memory_needed`), and ``seed`` >= 0."""
    if not math.isfinite(scale) or scale <= 0:
        raise UsageError(f"scale must be a finite number greater than 0, not {scale}")
    if seed < 0:
        raise UsageError(f"seed must be 0 or greater, not {seed}")
    available = _memory_available()
    if available is not None and memory_needed(scale) > available:
        raise UsageError(
            f"scale {scale:g} means some {ROWS_PER_SCALE * scale:,.0f} rows, "
            f"about {_gb(memory_needed(scale))} of memory to generate; "
            f"{_gb(available)} is available"
        )


def check_disk(scale: float, folder: Path) -> None:
    """Raise :class:`UsageError` when the rows of ``scale`` (with their indexes) would not
    fit in the free space of the file system holding ``folder`` (a server's data folder)."""
    free = shutil.disk_usage(folder).free
    needed = ROWS_PER_SCALE * scale * DISK_BYTES_PER_ROW
    if needed > free:
        raise UsageError(
            f"scale {scale:g} needs about {_gb(needed)} of disk for the "
            f"database; {_gb(free)} is free under {folder}"
        )


def memory_needed(scale: float) -> float:
    """Bytes :func:`generate` and the COPY that follows need for ``scale``, about."""
    return ROWS_PER_SCALE * scale * MEMORY_BYTES_PER_ROW


def _memory_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (Linux), else free physical pages; None if
    unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def _gb(size: float) -> str:
    return f"{size / 1e9:,.1f} GB"


def generate(*, scale: float, seed: int = 0) -> Dataset:
    """All tables' rows for ``(scale, seed)``; the same arguments give the same rows."""
    check_parameters(scale=scale, seed=seed)
    sizes = Sizes.for_scale(scale)
    streams = [
        np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(seed).spawn(6)
    ]
    users = _users(streams[0], sizes.users)
    n_power = max(1, round(POWER_USER_SHARE * sizes.users))
    projects, weights = _projects(streams[1], sizes.projects, users["created_at"], n_power)
    chains, renders = _renders(streams[2], sizes.renders, scale, projects, weights)
    subscriptions = _subscriptions(streams[3], users["created_at"], n_power)
    credits = _credits(streams[4], users["created_at"], subscriptions)
    gallery = _gallery(streams[5], renders)
    tables = {
        "users": users,
        "subscription_plans": _plans(),
        "user_subscriptions": subscriptions,
        "user_credits": credits,
        "projects": projects,
        "render_chains": chains,
        "renders": renders,
        "gallery_items": gallery,
    }
    return Dataset(
        scale=scale,
        seed=seed,
        tables={name: _as_timestamps(columns) for name, columns in tables.items()},
    )


def _users(rng: np.random.Generator, n: int) -> Columns:
    created = np.sort(-rng.integers(60 * DAY, 3 * 365 * DAY, n))  # id 1 is the oldest account
    ids = np.arange(1, n + 1)
    names = [f"{first} {last}" for first in _FIRST_NAMES for last in _LAST_NAMES]
    has_avatar = rng.random(n) < 0.7
    return {
        "id": ids,
        "email": np.array([f"user{i}@example.com" for i in ids.tolist()], dtype=object),
        "name": _pick(rng, names, n),
        "avatar_url": np.where(
            has_avatar,
            np.array([f"https://avatars.example.com/{i}.png" for i in ids.tolist()], dtype=object),
            _NULL,
        ),
        "created_at": created,
        "updated_at": _between(rng, created, 0),
    }


def _projects(
    rng: np.random.Generator, n: int, user_created: np.ndarray, n_power: int
) -> tuple[Columns, np.ndarray]:
    """Projects, and each project's relative share of the renders."""
    n_users = len(user_created)
    ordinary = n_users - n_power
    n_power_projects = round(POWER_PROJECT_SHARE * n) if ordinary else n
    power_weights = _normalised(1.0 / np.sqrt(np.arange(1, n_power + 1)))
    owners = rng.choice(n_power, n_power_projects, p=power_weights)
    if ordinary:
        ranks = rng.permutation(ordinary) + 1
        zipf = _normalised(1.0 / ranks.astype(float) ** OWNER_ZIPF_EXPONENT)
        rest = n_power + rng.choice(ordinary, n - n_power_projects, p=zipf)
        owners = np.concatenate([owners, rest])
    owner_created = user_created[owners]
    created = owner_created + (rng.random(n) * (-owner_created - 7 * DAY)).astype(np.int64)
    weights = np.minimum(rng.pareto(PROJECT_PARETO_SHAPE, n) + 1.0, PROJECT_WEIGHT_CAP)
    has_description = rng.random(n) < 0.5
    descriptions = [f"{style} studies of {subject}" for subject in _SUBJECTS for style in _STYLES]
    columns: Columns = {
        "user_id": owners + 1,
        "name": _pick(rng, [f"{a} {b}" for a in _PROJECT_WORDS[0] for b in _PROJECT_WORDS[1]], n),
        "description": np.where(has_description, _pick(rng, descriptions, n), _NULL),
        "is_archived": rng.random(n) < 0.1,
        "created_at": created,
        "updated_at": _between(rng, created, 0),
    }
    order = np.argsort(created, kind="stable")  # ids follow creation time
    return {"id": np.arange(1, n + 1), **{k: v[order] for k, v in columns.items()}}, weights[order]


def _chain_lengths(rng: np.random.Generator, budget: int, scale: float) -> np.ndarray:
    """Chain lengths summing to ``budget``: the forced ones (50s, the longest) and a random mix."""
    forced = np.array(
        [50] * max(MIN_CHAINS_OF_50, round(CHAINS_OF_50_PER_SCALE * scale)) + [LONGEST_CHAIN]
    )
    forced = forced[np.cumsum(forced) <= budget]
    remaining = budget - int(forced.sum())
    short = np.minimum(rng.geometric(SHORT_CHAIN_P, remaining), SHORT_CHAIN_CAP)
    long = rng.integers(20, LONGEST_CHAIN + 1, remaining)
    drawn = np.where(rng.random(remaining) < LONG_CHAIN_SHARE, long, short)
    # ``remaining`` draws of at least 1 cover ``remaining``: keep those that fit, and what is
    # left (less than the next draw) makes one more chain.
    drawn = drawn[np.cumsum(drawn) <= remaining]
    leftover = remaining - int(drawn.sum())
    lengths = np.concatenate([forced, drawn, [leftover] if leftover else []]).astype(np.int64)
    return lengths[rng.permutation(len(lengths))]


def _renders(
    rng: np.random.Generator, n: int, scale: float, projects: Columns, weights: np.ndarray
) -> tuple[Columns, Columns]:
    """Render chains and renders; ids of both follow creation time."""
    project_created = projects["created_at"]
    share = _normalised(weights)
    lengths = _chain_lengths(rng, round(CHAINED_RENDER_SHARE * n), scale)
    n_chains, n_chained = len(lengths), int(lengths.sum())
    chain_project = rng.choice(len(share), n_chains, p=share)

    # Chained renders first, in chain order: a chain's renders follow each other by seconds
    # to hours.  Indexes below are into this "logical" order until ids are assigned.
    chain_of = np.repeat(np.arange(n_chains), lengths)
    first = np.cumsum(lengths) - lengths  # logical index of each chain's first render
    position = np.arange(n_chained) - first[chain_of] + 1
    step = SECOND + np.minimum(rng.exponential(10 * MINUTE, n_chained), 2 * HOUR).astype(np.int64)
    step[first] = 0
    elapsed = np.cumsum(step)
    elapsed -= elapsed[first][chain_of]
    duration = elapsed[first + lengths - 1]
    room = -project_created[chain_project] - duration
    chain_start = project_created[chain_project] + (rng.random(n_chains) * room).astype(np.int64)
    chained_created = chain_start[chain_of] + elapsed

    n_free = n - n_chained
    free_project = rng.choice(len(share), n_free, p=share)
    project = np.concatenate([chain_project[chain_of], free_project])
    created = np.concatenate([chained_created, _between(rng, project_created[free_project], 0)])
    user = projects["user_id"][project]

    order = np.argsort(created, kind="stable")  # logical index of render id 1, 2, ...
    render_id = np.empty(n, dtype=np.int64)
    render_id[order] = np.arange(1, n + 1)

    parent = np.full(n, -1)
    u = rng.random(n_chained)
    later = position > 1
    previous = later & (u < PARENT_IS_PREVIOUS)
    parent[:n_chained][previous] = np.flatnonzero(previous) - 1
    earlier = later & (u >= PARENT_IS_PREVIOUS) & (u < PARENT_IS_PREVIOUS + PARENT_IS_EARLIER)
    earlier_index = first[chain_of] + (rng.random(n_chained) * (position - 1)).astype(np.int64)
    parent[:n_chained][earlier] = earlier_index[earlier]
    same_project = _earlier_in_group(rng, project, render_id)
    pick_free = rng.random(n) < UNCHAINED_PARENT_SHARE
    pick_free[:n_chained] = False
    parent[pick_free] = same_project[pick_free]
    reference = np.where(
        rng.random(n) < REFERENCE_SHARE, _earlier_in_group(rng, user, render_id), -1
    )
    chain_order = np.argsort(chain_start, kind="stable")
    chain_id = np.empty(n_chains, dtype=np.int64)
    chain_id[chain_order] = np.arange(1, n_chains + 1)
    in_chain = order < n_chained
    chain_index = np.where(in_chain, chain_of[np.minimum(order, n_chained - 1)], 0)

    # From here on, arrays are in id order.
    statuses = list(RENDER_STATUS_WEIGHTS)
    status = rng.choice(len(statuses), n, p=list(RENDER_STATUS_WEIGHTS.values()))
    settings = [(model, size, steps) for model in _MODELS for size in _SIZES for steps in _STEPS]
    setting = rng.integers(0, len(settings), n)
    setting_json = np.array(
        [
            json.dumps(
                {"model": m, "width": w, "height": h, "steps": s, "guidance": 7.5}, sort_keys=True
            )
            for m, (w, h), s in settings
        ],
        dtype=object,
    )
    cost = np.array(
        [(1 + _SIZES.index(size)) * (2 if steps == 50 else 1) for _, size, steps in settings],
        dtype=np.int32,
    )
    completed = status == statuses.index("completed")
    failed = status == statuses.index("failed")
    run_time = np.where(status == statuses.index("pending"), 0, SECOND * rng.integers(5, 600, n))
    ids = np.arange(1, n + 1)
    output_url = np.full(n, None, dtype=object)
    output_url[completed] = [
        f"https://cdn.example.com/renders/{i}.png" for i in ids[completed].tolist()
    ]
    created = created[order]
    renders: Columns = {
        "id": ids,
        "project_id": project[order] + 1,
        "user_id": user[order],
        "chain_id": np.ma.masked_array(
            np.where(in_chain, chain_id[chain_index], 0), mask=~in_chain
        ),
        "chain_position": np.ma.masked_array(
            np.where(in_chain, position[np.minimum(order, n_chained - 1)], 0).astype(np.int32),
            mask=~in_chain,
        ),
        "parent_render_id": _ids_or_null(render_id, parent[order]),
        "reference_render_id": _ids_or_null(render_id, reference[order]),
        "status": np.array(statuses, dtype=object)[status],
        "prompt": _pick(rng, [f"{s}, {style}" for s in _SUBJECTS for style in _STYLES], n),
        "settings": setting_json[setting],
        "output_url": output_url,
        "error_message": np.where(failed, _pick(rng, _ERRORS, n), _NULL),
        "credits_used": np.where(failed, 0, cost[setting]).astype(np.int32),
        "created_at": created,
        "updated_at": np.minimum(created + run_time, 0),
    }

    last = first + lengths - 1
    chain_columns: Columns = {
        "project_id": chain_project + 1,
        "user_id": projects["user_id"][chain_project],
        "name": _pick(rng, [f"{s} variations" for s in _SUBJECTS], n_chains),
        "created_at": chain_start,
        "updated_at": chained_created[last],
    }
    chains = {
        "id": np.arange(1, n_chains + 1),
        **{k: v[chain_order] for k, v in chain_columns.items()},
    }
    return chains, renders


def _gallery(rng: np.random.Generator, renders: Columns) -> Columns:
    completed = np.flatnonzero(renders["status"] == "completed")
    n = min(round(GALLERY_SHARE * len(renders["id"])), len(completed))
    chosen = np.sort(rng.choice(completed, n, replace=False))
    is_public = np.zeros(n, dtype=bool)
    is_public[rng.permutation(n)[: round(PUBLIC_SHARE * n)]] = True
    shared_after = rng.exponential(DAY, n).astype(np.int64)
    created = np.minimum(renders["updated_at"][chosen] + shared_after, 0)

    # Ties: some public items take the created_at of the next public item in time.
    public = np.flatnonzero(is_public)
    public = public[np.argsort(created[public], kind="stable")]
    tie = np.flatnonzero(rng.random(max(len(public) - 1, 0)) < GALLERY_TIE_SHARE)
    created[public[tie]] = created[public[tie + 1]]

    likes = np.where(is_public, np.minimum(rng.pareto(1.5, n) * 5, 100_000), 0).astype(np.int32)
    order = np.argsort(created, kind="stable")
    columns: Columns = {
        "render_id": renders["id"][chosen],
        "user_id": renders["user_id"][chosen],
        "is_public": is_public,
        "likes": likes,
        "created_at": created,
    }
    return {"id": np.arange(1, n + 1), **{k: v[order] for k, v in columns.items()}}


def _plans() -> Columns:
    n = len(PLANS)
    return {
        "id": np.arange(1, n + 1),
        "name": np.array([name for name, _, _ in PLANS], dtype=object),
        "price_cents": np.array([price for _, price, _ in PLANS], dtype=np.int32),
        "monthly_credits": np.array([credits for _, _, credits in PLANS], dtype=np.int32),
        "created_at": np.full(n, -4 * 365 * DAY),
    }


def _subscriptions(rng: np.random.Generator, user_created: np.ndarray, n_power: int) -> Columns:
    """Current subscriptions (active, past_due or canceled), earlier canceled ones, and none."""
    n_users = len(user_created)
    ordinary = np.arange(n_power, n_users)
    n_none = min(round(NO_SUBSCRIPTION_SHARE * n_users), len(ordinary))
    without = rng.choice(ordinary, n_none, replace=False)
    user = np.setdiff1d(np.arange(n_users), without)  # sorted, power users first
    k = len(user)
    power = user < n_power
    statuses = list(CURRENT_STATUS_WEIGHTS)
    status = np.where(
        power,
        statuses.index("active"),
        rng.choice(len(statuses), k, p=list(CURRENT_STATUS_WEIGHTS.values())),
    )
    plan = np.where(
        power,
        [name for name, _, _ in PLANS].index(POWER_PLAN),
        rng.choice(len(PLANS), k, p=PLAN_WEIGHTS),
    )
    born = user_created[user]
    u = rng.random(k)
    active_start = -(u * PERIOD).astype(np.int64)
    past_due_start = -(PERIOD + (u * 15 * DAY).astype(np.int64))
    canceled_end = born + PERIOD + (u * (-born - PERIOD)).astype(np.int64)
    active = status == statuses.index("active")
    start = np.select(
        [active, status == statuses.index("past_due")],
        [active_start, past_due_start],
        canceled_end - PERIOD,
    )
    end = start + PERIOD
    created = np.maximum(born, start - PERIOD * rng.integers(0, 6, k))  # renewed 0-5 times
    updated = np.where(active, start, end)

    # Earlier, canceled subscriptions of some users, ended before the current one began.
    room = created - born
    history = (rng.random(k) < SUBSCRIPTION_HISTORY_SHARE) & (room > 45 * DAY)
    n_old = int(history.sum())
    old_end = created[history] - (rng.random(n_old) * 10 * DAY).astype(np.int64)
    old_start = np.maximum(born[history], old_end - PERIOD * rng.integers(1, 4, n_old))
    columns: Columns = {
        "user_id": np.concatenate([user, user[history]]) + 1,
        "plan_id": np.concatenate([plan, rng.choice(len(PLANS), n_old, p=PLAN_WEIGHTS)]) + 1,
        "status": np.array([*statuses, "canceled"], dtype=object)[
            np.concatenate([status, np.full(n_old, len(statuses))])
        ],
        "current_period_start": np.concatenate([start, old_start]),
        "current_period_end": np.concatenate([end, old_end]),
        "created_at": np.concatenate([created, old_start]),
        "updated_at": np.concatenate([updated, old_end]),
    }
    order = np.argsort(columns["created_at"], kind="stable")
    n = len(order)
    return {"id": np.arange(1, n + 1), **{k: v[order] for k, v in columns.items()}}


def _credits(rng: np.random.Generator, user_created: np.ndarray, subscriptions: Columns) -> Columns:
    """One row per user: the active plan's allowance (else free's); resets overdue, due, never."""
    n = len(user_created)
    monthly = np.array([credits for _, _, credits in PLANS], dtype=np.int32)
    allowance = np.full(n, monthly[0])
    active = subscriptions["status"] == "active"
    allowance[subscriptions["user_id"][active] - 1] = monthly[subscriptions["plan_id"][active] - 1]
    kind = np.zeros(n, dtype=np.int8)  # 0 reset due later, 1 overdue, 2 never reset
    shuffled = rng.permutation(n)
    n_never = round(CREDITS_NEVER_RESET_SHARE * n)
    kind[shuffled[:n_never]] = 2
    kind[shuffled[n_never : n_never + max(1, round(CREDITS_OVERDUE_SHARE * n))]] = 1
    u = rng.random(n)
    next_reset = np.where(
        kind == 1,
        -(DAY + (u * 60 * DAY).astype(np.int64)),
        HOUR + (u * (PERIOD - HOUR)).astype(np.int64),
    )
    last_reset = np.maximum(next_reset - PERIOD, user_created)
    never = kind == 2
    columns: Columns = {
        "user_id": np.arange(1, n + 1),
        "balance": (rng.random(n) * (allowance + 1)).astype(np.int32),
        "monthly_allowance": allowance.astype(np.int32),
        "last_reset_at": np.ma.masked_array(last_reset, mask=never),
        "next_reset_at": np.ma.masked_array(next_reset, mask=never),
        "updated_at": np.where(never, user_created, np.minimum(last_reset, 0)),
    }
    return columns


def _pick(rng: np.random.Generator, vocabulary: list[str] | tuple[str, ...], n: int) -> np.ndarray:
    """``n`` draws from ``vocabulary`` as an object array (sharing the vocabulary's strings)."""
    return np.array(vocabulary, dtype=object)[rng.integers(0, len(vocabulary), n)]


def _between(rng: np.random.Generator, low: np.ndarray, high: int) -> np.ndarray:
    """A uniform offset in ``[low, high]`` for each ``low``."""
    return low + (rng.random(len(low)) * (high - low)).astype(np.int64)


def _normalised(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()


def _earlier_in_group(rng: np.random.Generator, group: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """For each row, a random row of its group with a lower ``rank`` (a permutation), or -1."""
    n = len(group)
    order = np.argsort(group * n + rank)
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    start_of = np.repeat(starts, np.diff(np.r_[starts, n]))
    place = np.arange(n) - start_of
    pick = start_of + (rng.random(n) * place).astype(np.int64)
    result = np.empty(n, dtype=np.int64)
    result[order] = np.where(place > 0, order[pick], -1)
    return result


def _ids_or_null(ids: np.ndarray, index: np.ndarray) -> np.ma.MaskedArray:
    return np.ma.masked_array(np.where(index >= 0, ids[index], 0), mask=index < 0)


def _as_timestamps(columns: Columns) -> Columns:
    """Turn the microsecond offsets from DATASET_NOW of time columns into datetime64[us]."""
    return {
        name: DATASET_NOW + values.astype("timedelta64[us]")
        if name.endswith(_TIME_SUFFIXES)
        else values
        for name, values in columns.items()
    }
