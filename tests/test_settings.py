"""One resolver: command line > environment > ``[tool.dalperf]`` > default, one message per bad value.

The resolver is tested directly (its environment handed in) and through the command line,
where a bad value must stop a command with exit 2 and one line naming where it came from.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dalperf.cli import main
from dalperf.errors import UsageError
from dalperf.project.config import load
from dalperf.project.settings import DRIVER_NAMES, FILE_KEYS, SETTINGS, resolve, resolve_one

FILE = """\
[tool.dalperf]
scale = 0.5
iterations = 7
warmup = 2
rtt_ms = [0, 5]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(FILE, encoding="utf-8")
    return path


def test_each_setting_comes_from_the_first_place_that_sets_it(project: Path) -> None:
    config = load(project)
    file_values = {name: getattr(config, name) for name in FILE_KEYS.values()}
    env = {"DALPERF_ITERATIONS": "11", "DALPERF_RTT_MS": "1,2", "DALPERF_OUT_DIR": "elsewhere"}
    settings = resolve({"iterations": 3, "scale": None}, file_values, path=project, environ=env)
    assert settings.iterations == 3  # the flag over the variable over the file
    assert settings.rtt_sweep_ms == (1.0, 2.0)  # the variable over the file
    assert settings.out_dir == Path("elsewhere")
    assert settings.scale == 0.5 and settings.warmup == 2  # the file's
    assert settings.sources == {
        "scale": "file",
        "iterations": "flag",
        "warmup": "file",
        "rtt_sweep_ms": "env",
        "jitter_ms": "default",
        "call_timeout": "default",
        "driver": "default",
        "out_dir": "env",
    }
    defaults = resolve({}, {}, environ={})
    assert (defaults.scale, defaults.iterations, defaults.warmup, defaults.rtt_sweep_ms) == (
        1.0,
        30,
        3,
        (),
    )


@pytest.mark.parametrize(
    ("name", "flag", "env_text", "file_value", "said"),
    [
        ("scale", -1.0, "-1", -1, " must be a number > 0, not -1"),
        ("iterations", 0, "0", 0, " must be a whole number >= 1, not 0"),
        ("warmup", -2, "-2", -2, " must be a whole number >= 0, not -2"),
        (
            "rtt_sweep_ms",
            "0,-5",
            "0,-5",
            [0, -5],
            " must be a number of milliseconds from 0 to 10,000, not -5",
        ),
        ("jitter_ms", -1.0, "-1", -1, " must be a number of milliseconds from 0 to 10,000, not -1"),
        ("call_timeout", 0.0, "0", 0, " must be a number of seconds > 0, not 0"),
        (
            "driver",
            ["pg8000"],
            "pg8000",
            "pg8000",
            ": unsupported driver 'pg8000': dalperf supports psycopg (3), psycopg2 and asyncpg",
        ),
    ],
)
def test_a_bad_value_has_one_message_naming_its_place(
    name: str, flag: object, env_text: str, file_value: object, said: str, tmp_path: Path
) -> None:
    setting = SETTINGS[name]
    with pytest.raises(UsageError) as from_flag:
        resolve({name: flag}, {}, environ={})
    with pytest.raises(UsageError) as from_env:
        resolve({}, {}, environ={setting.env: env_text})
    path = tmp_path / "pyproject.toml"
    path.write_text(f"[tool.dalperf]\n{setting.key} = {file_value!r}\n".replace("'", '"'))
    with pytest.raises(UsageError) as from_file:
        load(path)
    assert str(from_flag.value) == f"{setting.flag}{said}"
    assert str(from_env.value) == f"{setting.env}{said}"
    assert str(from_file.value) == f"{path} [tool.dalperf] {setting.key}{said}"


@pytest.mark.parametrize(
    ("name", "flag", "env_text", "file_text", "from_flag", "from_env", "from_file", "default"),
    [
        ("jitter_ms", 1.5, "2", "3", 1.5, 2.0, 3.0, 0.0),
        ("call_timeout", 5.0, "6", "7", 5.0, 6.0, 7.0, 30.0),
        (
            "driver",
            ["asyncpg"],
            "psycopg2, psycopg",
            '["asyncpg", "psycopg"]',
            ("asyncpg",),
            ("psycopg2", "psycopg"),
            ("asyncpg", "psycopg"),
            (),
        ),
        (
            "driver",
            ["ASYNCPG"],
            "asyncpg",
            '"psycopg2"',
            ("asyncpg",),
            ("asyncpg",),
            ("psycopg2",),
            (),
        ),
    ],
)
def test_each_new_setting_takes_the_flag_then_the_variable_then_the_file(
    name: str,
    flag: object,
    env_text: str,
    file_text: str,
    from_flag: object,
    from_env: object,
    from_file: object,
    default: object,
    tmp_path: Path,
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(f"[tool.dalperf]\n{name} = {file_text}\n", encoding="utf-8")
    config = load(path)
    file_values = {key: getattr(config, key) for key in FILE_KEYS.values()}
    env = {SETTINGS[name].env: env_text}

    def value(
        flags: dict[str, object], environ: dict[str, str], values: dict[str, object]
    ) -> object:
        settings = resolve(flags, values, path=path, environ=environ)
        assert settings.sources is not None
        return getattr(settings, name), settings.sources[name]

    assert value({name: flag}, env, file_values) == (from_flag, "flag")
    assert value({}, env, file_values) == (from_env, "env")
    assert value({}, {}, file_values) == (from_file, "file")
    assert value({}, {}, {}) == (default, "default")


def test_the_drivers_the_settings_accept_are_the_drivers_dalperf_has() -> None:
    from dalperf.db import drivers

    assert set(DRIVER_NAMES) == set(drivers.DRIVERS)


@pytest.mark.parametrize("name", ["database_url", "home"])
def test_the_database_url_and_the_home_have_no_file_key(name: str, tmp_path: Path) -> None:
    """A flag, then a variable, then the default; ``[tool.dalperf]`` refuses the key."""
    given, in_env = ("postgresql://a@h/one", "postgresql://b@h/two")
    if name == "home":
        given, in_env = ("flag-home", "env-home")
    setting = SETTINGS[name]
    env = {setting.env: in_env}
    expected = (Path(given), Path(in_env)) if name == "home" else (given, in_env)
    assert resolve_one(name, given, None, environ=env) == (expected[0], "flag")
    assert resolve_one(name, None, None, environ=env) == (expected[1], "env")
    assert resolve_one(name, None, None, environ={}) == (setting.default, "default")
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[tool.dalperf]\n{name} = "x"\n', encoding="utf-8")
    with pytest.raises(UsageError, match=f"unknown key '{name}'"):
        load(path)
    with pytest.raises(UsageError) as bad:
        resolve_one(name, "  ", None, environ={})
    assert str(bad.value).startswith(f"{setting.flag} must be")


def test_the_database_url_comes_from_the_variable_the_file_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.dalperf]\ndatabase_url_env = "APP_DB"\n', encoding="utf-8")
    config = load(path)
    monkeypatch.setenv("DALPERF_DATABASE_URL", "postgresql://dalperf@h/ignored")
    monkeypatch.setenv("APP_DB", "postgresql://app@h/named")
    assert config.setting("database_url") == "postgresql://app@h/named"
    assert config.setting("database_url", "postgresql://flag@h/given") == (
        "postgresql://flag@h/given"
    )
    monkeypatch.delenv("APP_DB")
    assert config.setting("database_url") is None  # DALPERF_DATABASE_URL is not the one named
    with pytest.raises(UsageError, match=r"^--database-url must be a non-empty string"):
        config.setting("database_url", "   ")


def test_the_rtt_sweep_keeps_its_flag_key_and_variable(project: Path) -> None:
    """The code calls the list of RTTs ``rtt_sweep_ms``; the user still writes ``rtt_ms``."""
    setting = SETTINGS["rtt_sweep_ms"]
    assert (setting.flag, setting.env, setting.key) == ("--rtt-ms", "DALPERF_RTT_MS", "rtt_ms")
    config = load(project)
    assert config.rtt_sweep_ms == (0.0, 5.0)
    assert resolve({}, {"rtt_sweep_ms": config.rtt_sweep_ms}, environ={}).rtt_sweep_ms == (0.0, 5.0)
    project.write_text("[tool.dalperf]\nrtt_sweep_ms = [1]\n", encoding="utf-8")
    with pytest.raises(UsageError, match="unknown key 'rtt_sweep_ms'"):
        load(project)


def test_text_that_is_no_number_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError, match=r"^DALPERF_ITERATIONS must be a whole number >= 1, not 'many'$"
    ):
        resolve({}, {}, environ={"DALPERF_ITERATIONS": "many"})
    with pytest.raises(UsageError, match=r"^--rtt-ms: 'abc' is not a number"):
        resolve({"rtt_sweep_ms": "0,abc"}, {}, environ={})


@pytest.mark.parametrize(
    ("variable", "text", "said"),
    [
        ("DALPERF_WARMUP", "-1", "DALPERF_WARMUP must be a whole number >= 0, not -1"),
        (
            "DALPERF_CALL_TIMEOUT",
            "-1",
            "DALPERF_CALL_TIMEOUT must be a number of seconds > 0, not -1",
        ),
        (
            "DALPERF_JITTER_MS",
            "20000",
            "DALPERF_JITTER_MS must be a number of milliseconds from 0 to 10,000, not 20000",
        ),
        (
            "DALPERF_DRIVER",
            "pg8000",
            "DALPERF_DRIVER: unsupported driver 'pg8000': dalperf supports psycopg (3), "
            "psycopg2 and asyncpg",
        ),
    ],
)
def test_a_bad_variable_stops_the_command_in_one_line(
    variable: str,
    text: str,
    said: str,
    dalperf_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, text)
    assert main(["run", "--out", str(tmp_path / "r.json")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {said}"]
    assert not (tmp_path / "r.json").exists() and not dalperf_home.exists()


def test_a_bad_driver_in_the_file_stops_audit_naming_the_key(
    dalperf_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.dalperf]\ndriver = ["asyncpg", "aiopg"]\n', encoding="utf-8")
    assert main(["audit", "--config", str(path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {path} [tool.dalperf] driver: unsupported driver 'aiopg': dalperf supports "
        "psycopg (3), psycopg2 and asyncpg"
    ]
    assert not dalperf_home.exists()


def test_the_home_comes_from_the_flag_then_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DALPERF_HOME", str(tmp_path / "from-env"))
    assert main(["db", "status"]) == 3  # not running, and where its data would be
    assert str(tmp_path / "from-env" / "pgdata") in capsys.readouterr().out
    assert main(["db", "status", "--home", str(tmp_path / "from-flag")]) == 3
    assert str(tmp_path / "from-flag" / "pgdata") in capsys.readouterr().out
    monkeypatch.delenv("DALPERF_HOME")
    assert main(["db", "status"]) == 3
    assert str(tmp_path / ".dalperf" / "pgdata") in capsys.readouterr().out
    assert not any(tmp_path.iterdir())  # status starts nothing


def test_run_takes_its_iterations_from_the_variable(
    seeded_db: str, dalperf_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dalperf.results.model import read_results

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DALPERF_ITERATIONS", "2")
    monkeypatch.setenv("DALPERF_WARMUP", "0")
    out = tmp_path / "r.json"
    args = ["run", "--only", "renders.get_by_ids", "--no-explain", "--no-complexity"]
    assert main([*args, "--param-sets", "1", "--database-url", seeded_db, "--out", str(out)]) == 0
    results = read_results(out)
    assert results.environment["iterations"] == 2 and results.environment["warmup"] == 0
    assert {len(m.wall_ms.samples) for m in results.operations} == {2}
