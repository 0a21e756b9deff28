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
from dalperf.project.settings import SETTINGS, resolve

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
    file_values = {name: getattr(config, name) for name in SETTINGS}
    env = {"DALPERF_ITERATIONS": "11", "DALPERF_RTT_MS": "1,2", "DALPERF_OUT_DIR": "elsewhere"}
    settings = resolve({"iterations": 3, "scale": None}, file_values, path=project, environ=env)
    assert settings.iterations == 3  # the flag over the variable over the file
    assert settings.rtt_ms == (1.0, 2.0)  # the variable over the file
    assert settings.out_dir == Path("elsewhere")
    assert settings.scale == 0.5 and settings.warmup == 2  # the file's
    assert settings.sources == {
        "scale": "file",
        "iterations": "flag",
        "warmup": "file",
        "rtt_ms": "env",
        "out_dir": "env",
    }
    defaults = resolve({}, {}, environ={})
    assert (defaults.scale, defaults.iterations, defaults.warmup, defaults.rtt_ms) == (
        1.0,
        30,
        3,
        (),
    )


@pytest.mark.parametrize(
    ("name", "flag", "env_text", "file_value", "said"),
    [
        ("scale", -1.0, "-1", -1, "must be a number > 0, not -1"),
        ("iterations", 0, "0", 0, "must be a whole number >= 1, not 0"),
        ("warmup", -2, "-2", -2, "must be a whole number >= 0, not -2"),
        (
            "rtt_ms",
            "0,-5",
            "0,-5",
            [0, -5],
            "must be a number of milliseconds from 0 to 10,000, not -5",
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
    path.write_text(f"[tool.dalperf]\n{name} = {file_value!r}\n".replace("'", '"'))
    with pytest.raises(UsageError) as from_file:
        load(path)
    assert str(from_flag.value) == f"{setting.flag} {said}"
    assert str(from_env.value) == f"{setting.env} {said}"
    assert str(from_file.value) == f"{path} [tool.dalperf] {name} {said}"


def test_text_that_is_no_number_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError, match=r"^DALPERF_ITERATIONS must be a whole number >= 1, not 'many'$"
    ):
        resolve({}, {}, environ={"DALPERF_ITERATIONS": "many"})
    with pytest.raises(UsageError, match=r"^--rtt-ms: 'abc' is not a number"):
        resolve({"rtt_ms": "0,abc"}, {}, environ={})


def test_a_bad_variable_stops_the_command_in_one_line(
    dalperf_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DALPERF_WARMUP", "-1")
    assert main(["run", "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == ["error: DALPERF_WARMUP must be a whole number >= 0, not -1"]
    assert not (tmp_path / "r.json").exists() and not dalperf_home.exists()


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
