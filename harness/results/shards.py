"""Shards: split a suite of operations across CI jobs, and join their results again.

``dalperf run --shard I/N`` measures the operations whose name hashes to slice ``I`` of
``N`` (:func:`in_shard`): the slice of an operation depends on its name alone, so adding an
operation never moves the others.  :func:`merge` joins the shards' results files into one
that ``report``, ``check`` and ``baseline`` read as any other, refusing files measured on
different data, with a different driver, iteration count or RTT sweep, or by a different
results schema, and sets of shards that are not complete (every slice of one N, once).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dalperf.errors import UsageError
from dalperf.results.model import Results, read_results

_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
# environment entries that must agree for measurements to belong in one file
COMPARABLE = ("scale", "seed", "schema", "server_version", "indexes")
SHARD_KEY = "shard"
SHARDS_KEY = "shards"
REGISTERED_KEY = "registered"  # operation -> variants of every loaded module


@dataclass(frozen=True, kw_only=True)
class Shard:
    """Slice ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/3"`` as a shard; anything else (``3/2``, ``0/4``) is a one-line UsageError."""
        match = _SHARD_RE.match(text)
        if match is None:
            raise UsageError(f"--shard {text!r} must look like I/N, e.g. 1/3")
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 1 <= index <= count:
            raise UsageError(f"--shard {text}: I must be between 1 and N (N >= 1)")
        return cls(index=index, count=count)

    def holds(self, name: str) -> bool:
        """Whether operation ``name`` belongs to this slice (by a hash of the name alone)."""
        digest = hashlib.sha256(name.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def merge_files(paths: Sequence[Path], *, allow_incomplete: bool = False) -> Results:
    """The results files ``paths`` (two at least) as one :class:`Results`."""
    if len(paths) < 2:
        raise UsageError("merge needs two results files at least")
    return merge([(str(p), read_results(p)) for p in paths], allow_incomplete=allow_incomplete)


def _settings(results: Results) -> dict[str, Any]:
    """How ``results`` were measured: shards measured otherwise cannot share one file that
    claims a single driver, iteration count and RTT sweep."""
    environment = results.environment
    driver = environment.get("driver")
    proxy = environment.get("proxy") or {}
    return {
        "driver": driver.get("name") if isinstance(driver, dict) else driver,
        "iterations": environment.get("iterations"),
        "warmup": environment.get("warmup"),
        "RTT sweep": proxy.get("rtt_ms") if isinstance(proxy, dict) else None,
    }


def missing_shards(parts: Sequence[tuple[str, Results]]) -> str | None:
    """Why ``parts`` are not one complete shard set (every slice of one N, each once), or
    ``None`` when they are; a file of a whole run is a set of one."""
    shards: list[tuple[str, Shard]] = []
    for name, part in parts:
        text = part.environment.get(SHARD_KEY)
        if text is None:
            return f"{name} is not a shard (no --shard I/N): it holds a whole run"
        shards.append((name, Shard.parse(str(text))))
    counts = {shard.count for _, shard in shards}
    if len(counts) > 1:
        listed = ", ".join(f"{name} ({shard})" for name, shard in shards)
        return f"the files are slices of different shard counts: {listed}"
    count = counts.pop()
    held: dict[int, str] = {}
    for name, shard in shards:
        if shard.index in held:
            return f"shard {shard} is in both {held[shard.index]} and {name}"
        held[shard.index] = name
    absent = [f"{i}/{count}" for i in range(1, count + 1) if i not in held]
    return f"shard(s) {', '.join(absent)} missing" if absent else None


def merge(parts: Sequence[tuple[str, Results]], *, allow_incomplete: bool = False) -> Results:
    """Join ``(name, results)`` parts measured on the same data, in the same way, forming
    one complete shard set; refuse anything else.

    With ``allow_incomplete`` an incomplete set is merged and marked partial (which
    ``check`` fails unless told otherwise): what a missing shard held was never measured.
    """
    incomplete = missing_shards(parts)
    if incomplete is not None and not allow_incomplete:
        raise UsageError(
            f"cannot merge: {incomplete}; a merged file must hold every shard "
            "(--allow-incomplete merges them, marked partial)"
        )
    first_name, first = parts[0]
    seen: dict[tuple[str, str, bool, float], str] = {}
    for name, part in parts:
        if part.schema_version != first.schema_version:
            raise UsageError(
                f"cannot merge {first_name} (results schema "
                f"{first.schema_version}) with {name} (results schema "
                f"{part.schema_version})"
            )
        for key in COMPARABLE:
            mine, theirs = first.environment.get(key), part.environment.get(key)
            if mine != theirs:
                raise UsageError(
                    f"cannot merge {first_name} ({key} {mine}) with {name} "
                    f"({key} {theirs}): measured on different data or servers"
                )
        for key, mine in _settings(first).items():
            theirs = _settings(part)[key]
            if mine != theirs:
                raise UsageError(
                    f"cannot merge {first_name} ({key} {mine}) with {name} "
                    f"({key} {theirs}): measured in different ways"
                )
        for m in part.operations:
            if m.key in seen:
                raise UsageError(
                    f"cannot merge: {m.operation} [{m.variant}] is in both {seen[m.key]} and {name}"
                )
            seen[m.key] = name
    environment = {k: v for k, v in first.environment.items() if k != SHARD_KEY}
    environment[SHARDS_KEY] = [p.environment.get(SHARD_KEY) for _, p in parts]
    registered: dict[str, list[str]] = {}
    for _, part in parts:
        for operation, variants in part.environment.get(REGISTERED_KEY, {}).items():
            registered.setdefault(operation, list(variants))
    if registered:
        environment[REGISTERED_KEY] = registered
    partial = "; ".join(f"{name}: {p.partial}" for name, p in parts if p.partial) or None
    if incomplete is not None:
        partial = "; ".join(filter(None, [f"incomplete shard set: {incomplete}", partial]))
    return Results(
        environment=environment,
        operations=tuple(m for _, p in parts for m in p.operations),
        failures=tuple(f for _, p in parts for f in p.failures),
        catalog={k: v for _, p in parts for k, v in p.catalog.items()},
        index_audit=merge_index_audits([p.index_audit for _, p in parts]),
        partial=partial,
        schema_version=first.schema_version,
    )


def merge_index_audits(audits: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """One index audit from the shards' (same catalog, different operations): uses are
    joined per index, scans added; what comes from the catalog alone is the first's."""
    present = [a for a in audits if a is not None]
    if not present:
        return None
    merged = dict(present[0])
    indexes: dict[str, dict[str, Any]] = {}
    for audit in present:
        for entry in audit.get("indexes", ()):
            key = f"{entry.get('schema')}.{entry['name']}"
            if key not in indexes:
                indexes[key] = dict(entry)
                continue
            held = indexes[key]
            for listed in ("used_in_plans", "scanned_by"):
                held[listed] = sorted({*held.get(listed, ()), *entry.get(listed, ())})
            held["scans"] = held.get("scans", 0) + entry.get("scans", 0)
            held["used"] = bool(held.get("used")) or bool(entry.get("used"))
    merged["indexes"] = list(indexes.values())
    merged["unused"] = [
        i["name"] for i in merged["indexes"] if not i["used"] and not i.get("constraint")
    ]
    merged["operations"] = sorted({o for a in present for o in a.get("operations", ())})
    merged["seq_scans"] = [s for a in present for s in a.get("seq_scans", ())]
    hints: list[Any] = []
    for audit in present:
        hints.extend(h for h in audit.get("missing_index_hints", ()) if h not in hints)
    merged["missing_index_hints"] = hints
    return merged
