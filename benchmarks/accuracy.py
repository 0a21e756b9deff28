"""Accuracy of the plugin's findings on the labelled corpus (``tests/corpus``).

Usage: python benchmarks/accuracy.py [--config NAME ...] [--scenario FILE ...]

Starts a throwaway embedded PostgreSQL, then runs the whole corpus as one real pytest
session with the dalperf plugin on, once per configuration: the default rules, then each
opt-in rule the installed plugin declares (``dalperf.pytest_support.settings``: the
write-loop threshold, and small repeats and unused eager loads where the plugin has them).
It prints, per configuration, true/false positives and negatives per finding kind, BUG
scenarios flagged, CLEAN scenarios flagged, call sites inside the scenario's own file,
fixed versions that came out clean, and every disagreement with the labels (a documented
limit named as such), as Markdown (the tables of ``docs/accuracy.md``).

Targets: CLEAN flagged 0; BUG flagged at least 97 %; every call site in the scenario's own
file; every fixed version clean.  Exit code 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import psycopg

from dalperf.db.embedded import running_server

DATABASE = "accuracy"


def _load_judge() -> ModuleType:
    """``tests/corpus/judge.py``, loaded from its file (the tests are not installed)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "corpus" / "judge.py"
    spec = importlib.util.spec_from_file_location("corpus_judge", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


judge = _load_judge()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        help="configurations to run (default: all the plugin declares)",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        type=Path,
        help="scenario modules to run (default: the whole corpus)",
    )
    args = parser.parse_args(argv)
    configs = [c for c in judge.configurations() if not args.config or c.name in args.config]
    corpus = [
        s
        for s in judge.scenarios()
        if not args.scenario or s.path in {p.resolve() for p in args.scenario}
    ]
    if not configs or not corpus:
        parser.error("no configuration or no scenario selected")
    summaries = []
    with running_server(None) as status:
        with psycopg.connect(status.url("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{DATABASE}"')
        for config in configs:
            ran = judge.run(status.url(DATABASE), config, select=[s.path for s in corpus])
            summaries.append(judge.summarize(ran, corpus))
            print(
                f"ran {config.name}: {len(corpus)} scenarios in {ran.seconds:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    bugs = sum(s.bug for s in corpus)
    print(
        f"{len(corpus)} scenarios ({bugs} bug_, {len(corpus) - bugs} clean_), "
        f"configurations: {', '.join(c.name for c in configs)}\n"
    )
    print(judge.table(summaries))
    missed = [
        s.config.name
        for s in summaries
        if s.clean_flagged
        or (s.bug_total and s.bug_flagged < 0.97 * s.bug_total)
        or s.sites_own < s.sites_total
        or s.fixes_clean < s.fixes_total
    ]
    if missed:
        print(f"\ntargets missed in: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
