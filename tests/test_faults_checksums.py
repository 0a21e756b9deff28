"""The template's checksums cover what the schema and the data are made of, and nothing
else: Alembic's resolved script location (a config in a subfolder), the DDL ``create_all``
really emits (events included), the modules of the project the seed hook imports; not the
files that merely sit beside an ``alembic.ini``."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from dalperf.db.project import hook_checksum, schema_checksum
from dalperf.project.config import load

pytestmark = pytest.mark.faults

VERSION = """
revision = "{rev}"
down_revision = {down}


def upgrade():
    pass
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path`` on ``sys.path`` for the test, the modules imported from it forgotten."""
    sys.path.insert(0, str(tmp_path))
    before = set(sys.modules)
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in set(sys.modules) - before:
            del sys.modules[name]


def test_an_alembic_config_in_a_subfolder_follows_its_script_location(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pyproject.toml": '[tool.dalperf]\nschema = "config/alembic.ini"\n',
            "config/alembic.ini": "[alembic]\nscript_location = %(here)s/../alembic_dir\n",
            "alembic_dir/env.py": "# env\n",
            "alembic_dir/versions/0001.py": VERSION.format(rev="0001", down=None),
        },
    )
    config = load(tmp_path / "pyproject.toml")
    first = schema_checksum(config)
    (tmp_path / "alembic_dir/versions/0002.py").write_text(
        VERSION.format(rev="0002", down='"0001"')
    )
    assert schema_checksum(config) != first


def test_files_beside_an_alembic_ini_do_not_count(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pyproject.toml": '[tool.dalperf]\nschema = "alembic.ini"\n',
            "alembic.ini": "[alembic]\nscript_location = alembic\n",
            "alembic/env.py": "# env\n",
            "alembic/versions/0001.py": VERSION.format(rev="0001", down=None),
            "perf/ops.py": "x = 1\n",
        },
    )
    config = load(tmp_path / "pyproject.toml")
    first = schema_checksum(config)
    (tmp_path / "perf/ops.py").write_text("x = 2\n")
    _write(tmp_path, {".venv/lib/site.py": "y = 1\n"})
    assert schema_checksum(config) == first
    (tmp_path / "alembic/env.py").write_text("# env, edited\n")
    assert schema_checksum(config) != first


MODELS = """
from sqlalchemy import DDL, Column, Integer, MetaData, Table, event

metadata = MetaData()
items = Table("items", metadata, Column("id", Integer, primary_key=True))
event.listen(items, "after_create", DDL("{ddl}"))
"""


def test_ddl_attached_to_the_metadata_counts(importable: Path) -> None:
    checksums = []
    for index, ddl in enumerate(
        (
            "CREATE VIEW v AS SELECT id FROM items",
            "CREATE VIEW v AS SELECT id, id + 1 AS next FROM items",
        )
    ):
        _write(
            importable,
            {
                f"models_{index}.py": MODELS.format(ddl=ddl),
                f"p{index}/pyproject.toml": f'[tool.dalperf]\nschema = "models_{index}:metadata"\n',
            },
        )
        checksums.append(schema_checksum(load(importable / f"p{index}/pyproject.toml")))
    assert checksums[0] != checksums[1]


def test_the_project_modules_the_seed_hook_imports_count(importable: Path) -> None:
    _write(
        importable,
        {
            "pyproject.toml": '[tool.dalperf]\nseed = "perf.seed:seed"\n',
            "perf/__init__.py": "",
            "perf/seed.py": "from perf.rows import ROWS\n\n\ndef seed(engine, scale, seed):\n"
            "    return ROWS\n",
            "perf/rows.py": "ROWS = 10\n",
            "perf/ops.py": "x = 1\n",
        },
    )
    config = load(importable / "pyproject.toml")
    first = hook_checksum(config)
    (importable / "perf/ops.py").write_text("x = 2\n")
    assert hook_checksum(config) == first
    (importable / "perf/rows.py").write_text("ROWS = 20\n")
    assert hook_checksum(config) != first


def test_the_reused_line_says_what_the_checksums_cover(tmp_path: Path) -> None:
    from tests.test_project import make_app

    app = make_app(tmp_path)
    sys.path.insert(0, str(app))
    before = set(sys.modules)
    try:
        from dalperf.db.project import covered

        assert covered(load(app / "pyproject.toml")) == (
            "3 DDL statement(s) create_all emits, the seed hook's module and 1 project "
            "module(s) it imports"
        )
    finally:
        sys.path.remove(str(app))
        for name in set(sys.modules) - before:
            del sys.modules[name]
