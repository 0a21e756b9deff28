"""The documentation builds strictly, and every example in it runs.

- ``mkdocs build --strict`` (into a temporary folder) passes with no warning.
- Every ```` ```bash ```` and ```` ```python ```` block of ``docs/*.md`` and ``README.md``
  runs, in page order, through Sybil's Markdown code-block parser:

  - a block whose previous non-blank line is ``<!-- docs: skip (reason) -->`` is not run
    (the reason is required);
  - a Python block whose first line is ``# file: PATH`` is a file of the example: it is
    compiled and written to PATH (a later bash block runs it, e.g. with pytest);
  - any other Python block is executed, the blocks of a page sharing one namespace, with
    the page's folder as working directory and on ``sys.path``, and ``DATABASE_URL`` set to
    an empty database on the test session's embedded server (``postgresql+psycopg://``);
  - a bash block runs under ``bash -e -o pipefail`` in the page's folder (one temporary
    folder per page), with this interpreter's ``bin`` first on ``PATH`` and one
    ``DALPERF_HOME`` for the session (the embedded server's data is made once, as on a
    user's machine); it passes when it exits 0.

  ```` ```console ```` and ```` ```text ```` blocks are transcripts and are not run.
- The generated references (commands, results JSON) name every command and schema object,
  and the README stays a front page: at most 300 lines, relative links that exist.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sybil import Example, Sybil
from sybil.parsers.markdown import CodeBlockParser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
SKIP = re.compile(r"^<!-- docs: skip \((?P<reason>[^)]+)\) -->$")
FILE = re.compile(r"^# file: (?P<path>\S+)\s*$")
BLOCK_TIMEOUT_S = 300


def _load_hooks() -> Any:
    """``docs/hooks.py`` (the generated pages) as a module; it is not part of the package."""
    spec = importlib.util.spec_from_file_location("dalperf_docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _load_hooks()


class PageRun:
    """Where one page's examples run: its folder, its environment, its Python namespace."""

    def __init__(self, folder: Path, database_url: str | None, home: Path | None = None) -> None:
        self.folder = folder
        self.database_url = database_url
        self.home = home
        self.namespace: dict[str, Any] = {"__name__": "__docs__"}
        self.ran: list[str] = []

    def env(self) -> dict[str, str]:
        """The environment of a bash block: this venv first on PATH, no inherited database."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in {
                "DATABASE_URL",
                "DALPERF_DATABASE_URL",
                "DALPERF_HOME",
                "PYTEST_ADDOPTS",
                "PYTEST_CURRENT_TEST",
            }
        }
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        if self.home is not None:
            env["DALPERF_HOME"] = str(self.home)
        return env


def _previous_line(example: Example) -> str:
    """The last non-blank line before the opening fence of ``example``."""
    before = example.document.text[: example.start].rstrip("\n").splitlines()
    for line in reversed(before):
        if line.strip():
            return line.strip()
    return ""


def _skipped(example: Example) -> bool:
    """True when the block is marked ``<!-- docs: skip (reason) -->``; a marker without a
    reason is an error."""
    line = _previous_line(example)
    if line.startswith("<!-- docs: skip"):
        if not SKIP.match(line):
            raise AssertionError(
                f"line {example.line}: a skip marker needs a reason: "
                f"<!-- docs: skip (why) -->, not {line!r}"
            )
        return True
    return False


def _where(example: Example) -> str:
    return f"{Path(example.path).name}:{example.line}"


def evaluate_bash(example: Example) -> None:
    """Run a bash block in the page's folder; fail with its output unless it exits 0."""
    if _skipped(example):
        return
    run: PageRun = example.namespace["__page__"]
    script = str(example.parsed)
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=run.folder,
        env=run.env(),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
        check=False,
    )
    run.ran.append(f"bash {_where(example)}")
    if result.returncode != 0:
        raise AssertionError(
            f"{_where(example)}: the bash block exited {result.returncode}\n"
            f"--- block ---\n{script}--- stdout ---\n{result.stdout[-4000:]}"
            f"--- stderr ---\n{result.stderr[-4000:]}"
        )


def evaluate_python(example: Example) -> None:
    """Write a ``# file:`` block into the page's folder, or execute the block."""
    if _skipped(example):
        return
    run: PageRun = example.namespace["__page__"]
    source = str(example.parsed)
    first = source.splitlines()[0] if source.strip() else ""
    code = compile(source, _where(example), "exec")
    match = FILE.match(first)
    if match:
        target = run.folder / match["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
        run.ran.append(f"file {_where(example)}")
        return
    if run.database_url is None:
        raise AssertionError(f"{_where(example)}: a Python block ran without a database")
    exec(code, run.namespace)
    run.ran.append(f"python {_where(example)}")


SYBIL = Sybil(
    parsers=[
        CodeBlockParser(language="bash", evaluator=evaluate_bash),
        CodeBlockParser(language="python", evaluator=evaluate_python),
    ]
)


def _examples(page: Path) -> list[Example]:
    return list(SYBIL.parse(page))


def _executes_python(examples: list[Example]) -> bool:
    """True when a page has a Python block that runs (not a file, not skipped)."""
    for example in examples:
        if example.region.evaluator is evaluate_python and not _skipped(example):
            first = str(example.parsed).splitlines()[:1]
            if not (first and FILE.match(first[0])):
                return True
    return False


@pytest.fixture
def page_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The page's folder: working directory and first on ``sys.path`` for its Python blocks;
    the modules its examples import from there are forgotten afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if module_file.startswith(str(tmp_path)):
            del sys.modules[name]


@pytest.fixture(scope="session")
def docs_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``DALPERF_HOME`` of the pages' commands, shared by the pages of this session (of
    this worker, under xdist): the embedded server's data folder is created once and the
    case-study data of one scale and seed seeded once, as on a user's machine."""
    return tmp_path_factory.mktemp("docs-home")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_examples_run(
    page: Path,
    page_folder: Path,
    docs_home: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every bash and Python example of the page runs, in order (see the module docstring)."""
    examples = _examples(page)
    database_url = None
    if _executes_python(examples):
        libpq_url = request.getfixturevalue("fresh_db")
        database_url = libpq_url.replace("postgresql://", "postgresql+psycopg://", 1)
        monkeypatch.setenv("DATABASE_URL", database_url)
    run = PageRun(page_folder, database_url, docs_home)
    for example in examples:
        example.namespace["__page__"] = run
        example.evaluate()


def test_skip_marker_needs_reason_and_failing_blocks_fail(
    tmp_path: Path, page_folder: Path
) -> None:
    """The runner is not a rubber stamp: a failing block fails, a skipped one is not run,
    a marker without a reason is refused, a ``# file:`` block is written, not run."""
    page = tmp_path / "page.md"

    def run_page(text: str) -> PageRun:
        page.write_text(textwrap.dedent(text), encoding="utf-8")
        run = PageRun(page_folder, "postgresql+psycopg://unused")
        for example in _examples(page):
            example.namespace["__page__"] = run
            example.evaluate()
        return run

    with pytest.raises(AssertionError, match="exited 3"):
        run_page("```bash\nexit 3\n```\n")
    with pytest.raises(AssertionError, match="exited 1"):
        run_page("```bash\nfalse\necho not reached\n```\n")
    with pytest.raises(ZeroDivisionError):
        run_page("```python\n1 / 0\n```\n")
    with pytest.raises(AssertionError, match="needs a reason"):
        run_page("<!-- docs: skip -->\n```bash\ntrue\n```\n")
    run = run_page(
        """\
        <!-- docs: skip (shows a command that must not run here) -->
        ```bash
        exit 9
        ```

        ```python
        # file: made.py
        raise SystemExit("imported, not run")
        ```

        ```console
        $ exit 7
        ```

        ```bash
        test -f made.py && echo "$PATH" | grep -q "^{bin}"
        ```
        """.replace("{bin}", str(BIN))
    )
    assert run.ran == ["file page.md:6", "bash page.md:15"]


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """``mkdocs build --strict`` passes and prints no warning."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about MkDocs 2
    result = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    commands = (tmp_path / "site" / "commands" / "index.html").read_text(encoding="utf-8")
    assert "dalperf audit" in commands and "--database-url" in commands
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("Capture", "register", "Budget"):
        assert name in api


def test_commands_page_names_every_command() -> None:
    """The generated command reference has a section for every command and subcommand of
    the typer application, and every option of each."""
    import typer.main

    from dalperf.cli.app import app

    text = hooks.commands_markdown()

    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    for path, command in walk(typer.main.get_command(app), ["dalperf"]):
        assert f"`{' '.join(path)}`\n" in text, path
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("-") and not param.hidden:
                    assert opt in text, (path, opt)


def test_schema_page_names_every_object() -> None:
    """The generated results JSON reference has a section per schema object and a row per
    declared field."""
    import json

    schema = json.loads(hooks.SCHEMA_PATH.read_text(encoding="utf-8"))
    text = hooks.schema_markdown()
    for name, node in schema["$defs"].items():
        assert f"### {name}\n" in text
        for field in node.get("properties", {}):
            assert f"| `{field}` |" in text, (name, field)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_pages_stay_inside_the_repository(page: Path) -> None:
    """No page names a file outside the repository or a tracker's issue number."""
    text = page.read_text(encoding="utf-8")
    assert "../shared" not in text and "/work/" not in text
    assert not re.search(r"\bissues? #?\d+", text, re.IGNORECASE)


def test_readme_is_a_front_page() -> None:
    """README.md: at most 300 lines, the two commands (the test one exactly as CI runs it), no
    path outside the repository, and every relative link names a file that exists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    assert "../" not in text
    main = "python3 -m venv .venv && .venv/bin/pip install -e '.[all]' && .venv/bin/dalperf audit"
    tests = (
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && "
        ".venv/bin/python -m pytest"
    )
    assert f"```bash\n{main}\n```" in text and f"```bash\n{tests}\n```" in text
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")  # CI runs it verbatim
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert links, "the README links into the docs"
    for link in links:
        if "://" not in link:
            assert (ROOT / link).exists(), link
