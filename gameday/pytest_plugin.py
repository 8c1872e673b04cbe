"""pytest plugin: `pytest --gameday scenarios/` runs each scenario once, one test per objective.

Registered through the `pytest11` entry point; inert unless `--gameday` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .analysis.verdict import Verdict

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from .reports.model import Report
    from .scenarios.model import Scenario

RunScenario = Callable[["Scenario", Path, Path, "Path | None"], "Report"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gameday", "gameday drills as tests")
    group.addoption("--gameday", action="store_true", help="collect scenario YAML files as drills")
    group.addoption(
        "--gameday-report-dir", default="reports", metavar="DIR", help="where drill reports go"
    )
    group.addoption("--gameday-sign", default=None, metavar="KEY", help="sign each drill report")


def run_scenario(scenario: Scenario, path: Path, report_root: Path, sign: Path | None) -> Report:
    """Run one drill in CI mode and publish it, signed with `sign` (tests replace this to stay offline)."""
    from .reports.publish import publish
    from .runners.console import make_view
    from .runners.engine import run_drill
    from .runners.record import RunOptions

    options = RunOptions(ci=True, report_root=report_root, sign_key=sign)
    return publish(run_drill(scenario, path, options, make_view(True))).report


def objective_names(scenario: Scenario) -> list[str]:
    """The objectives a drill of this scenario is judged on, in evaluation order."""
    names = [k for k, v in scenario.objectives.model_dump().items() if v is not None]
    ps = scenario.objectives.protected_success
    if ps is not None and ps.breakers_close_within is not None:
        names.append("breakers_close_within")
    return names


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not parent.config.getoption("--gameday") or file_path.suffix not in (".yaml", ".yml"):
        return None
    head = file_path.read_text(encoding="utf-8", errors="replace")
    if "kind: Scenario" not in head:
        return None  # suites and other YAML: each scenario file is collected on its own
    return DrillFile.from_parent(parent, path=file_path)


class DrillFailure(Exception):
    """An objective missed or the drill did not complete."""


class DrillFile(pytest.File):
    """One scenario: the drill runs once, on the first of its items to execute."""

    _report: Report | None = None
    _error: str | None = None

    def collect(self) -> Iterator[pytest.Item]:
        from .scenarios.loader import load_scenario
        from .scenarios.problems import ScenarioError

        try:
            self.scenario = load_scenario(self.path)
        except ScenarioError as exc:
            self._error = "invalid scenario:\n" + "\n".join(str(p) for p in exc.problems)
            yield DrillItem.from_parent(self, name="drill", objective=None)
            return
        for name in objective_names(self.scenario):
            yield DrillItem.from_parent(self, name=name, objective=name)
        yield DrillItem.from_parent(self, name="drill", objective=None)

    def report(self) -> Report:
        if self._error is not None:
            raise DrillFailure(self._error)
        if self._report is None:
            config = self.config
            sign = config.getoption("--gameday-sign")
            try:
                self._report = run_scenario(
                    self.scenario,
                    self.path,
                    Path(config.getoption("--gameday-report-dir")),
                    Path(sign) if sign else None,
                )
            except Exception as exc:  # the drill's own failure belongs to every item
                self._error = f"the drill could not run: {exc}"
                raise DrillFailure(self._error) from exc
        return self._report


class DrillItem(pytest.Item):
    """One objective of a drill (or `drill`: the verdict as a whole)."""

    def __init__(self, *, objective: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.objective = objective

    def runtest(self) -> None:
        parent = self.parent
        assert isinstance(parent, DrillFile)
        report = parent.report()
        if self.objective is None:
            if report.verdict is not Verdict.PASSED:
                raise DrillFailure(f"{report.verdict}: {report.reason}")
            return
        found = [r for r in report.objectives if r.name == self.objective]
        if not found:
            raise DrillFailure(f"{self.objective} was not evaluated ({report.reason})")
        r = found[0]
        if not r.passed:
            raise DrillFailure(
                f"{r.name}: target {r.bound_text}, measured {r.measured_text()} — {r.reason}"
            )

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, DrillFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.stem}::{self.name}"
