"""The architecture as built: layers that only point down, one registry, files with one job."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gameday.scenarios.target_types import BUILTIN_KINDS
from gameday.targets import registry

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_MODULE_LINES = 550  # "about 500": a module past this holds more than one job


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def lint_imports() -> Path:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"import-linter is a dev dependency; {LINT_IMPORTS} is missing")
    return LINT_IMPORTS


def test_layers_only_point_down(lint_imports: Path) -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(lint_imports: Path, tmp_path: Path) -> None:
    # negative control: the same contract on a copy where the bottom layer imports the reports
    shutil.copytree(REPO / "gameday", tmp_path / "gameday", ignore=shutil.ignore_patterns("*.pyc"))
    units = tmp_path / "gameday" / "scenarios" / "units.py"
    units.write_text(units.read_text() + "\nfrom ..reports import model as _upward  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "gameday.scenarios.units -> gameday.reports.model" in result.stdout


def test_no_module_holds_several_jobs() -> None:
    sizes = {
        path.relative_to(REPO).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in (REPO / "gameday").rglob("*.py")
    }
    assert sizes, "no modules found"
    too_long = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"split these (over {MAX_MODULE_LINES} lines): {too_long}"


@pytest.mark.parametrize("kind", BUILTIN_KINDS, ids=lambda k: k.name)
def test_each_builtin_driver_performs_exactly_the_faults_its_type_declares(kind: object) -> None:
    name = kind.name  # type: ignore[attr-defined]
    target_type = registry.target_type(name)
    driver_class = type(target_type.from_spec(_spec_for(name)))
    assert set(driver_class.actions) == set(target_type.kind.faults)
    assert driver_class.name == name


def _spec_for(name: str) -> dict[str, object]:
    return {
        "sandbox": {"state_dir": "/nonexistent/gameday-test"},
        "docker": {"project": "p", "url": "http://127.0.0.1:1"},
        "kubernetes": {"namespace": "ns", "url": "http://127.0.0.1:1"},
    }[name]


def test_the_engine_lock_recover_and_cli_name_no_driver() -> None:
    models = ("SandboxTarget", "DockerTarget", "KubernetesTarget", "getattr(target")
    names = ('"sandbox"', '"docker"', '"kubernetes"')
    for module in (
        "runners/engine.py",
        "runners/faults.py",
        "runners/lock.py",
        "runners/recover.py",
        "cli.py",
    ):
        text = (REPO / "gameday" / module).read_text(encoding="utf-8")
        # the CLI's `gameday sandbox` command manages the embedded staging, not a driver
        forbidden = models if module == "cli.py" else models + names
        for word in forbidden:
            assert word not in text, f"{module} names {word}"
