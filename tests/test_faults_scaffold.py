"""``dalperf init`` writes code that compiles and runs for any table name PostgreSQL
allows: schema-qualified tables, quotes, backslashes, non-ASCII (hypothesis draws the
names); and ``init`` then ``audit`` is green on such a project against a real server."""

from __future__ import annotations

import importlib
import itertools
import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dalperf.measure.registry import Registry, registering_into
from dalperf.project.scaffold import ops_source
from tests.test_project import (
    Project,
    project,  # noqa: F401 (a fixture)
    project_server,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.faults

MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL truncates longer names
names = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=30,
).filter(lambda n: len(n.encode()) <= MAX_IDENTIFIER_BYTES)
_modules = itertools.count()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=names, schema=st.none() | names)
def test_generated_operations_compile_and_load_for_any_table_name(
    table: str, schema: str | None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.getbasetemp() / "odd_models"
    folder.mkdir(exist_ok=True)
    module = f"odd_models_{next(_modules)}"
    (folder / f"{module}.py").write_text(
        "from sqlalchemy import Column, Integer, MetaData, Table\n\n"
        "metadata = MetaData()\n"
        f"Table({table!r}, metadata, Column('id', Integer, primary_key=True), "
        f"schema={schema!r})\n",
        encoding="utf-8",
    )
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    models = importlib.import_module(module)
    source = ops_source(module, f"{module}:metadata", next(iter(models.metadata.tables.values())))
    code = compile(source, "perf/ops.py", "exec")
    with registering_into(Registry()) as registry:
        namespace: dict[str, object] = {"__name__": f"ops_of_{module}"}
        exec(code, namespace)
    assert namespace["TABLE"].name == table  # type: ignore[attr-defined]
    assert namespace["TABLE"].schema == schema  # type: ignore[attr-defined]
    assert len(list(registry)) == 2


MODELS = """
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = 'we"ird \\\\ orders'
    __table_args__ = {"schema": "shop"}
    id: Mapped[int] = mapped_column(primary_key=True)
    note: Mapped[str] = mapped_column(String(20))
"""


def test_init_then_audit_on_a_schema_qualified_odd_table(tmp_path: Path, project: Project) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "models.py").write_text(MODELS)
    init = project.run(tmp_path, "init", "app.models")
    assert init.returncode == 0, init.stdout + init.stderr
    audit = project.run(tmp_path, "audit", "--iterations", "2")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    results = json.loads((tmp_path / "reports/out/results.json").read_text())
    assert {m["operation"] for m in results["operations"]} == {
        "we_ird___orders.count",
        "we_ird___orders.first_page",
    }
