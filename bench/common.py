"""What every benchmark shares: the run context, summary statistics, tables and JSON output."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from gameday.traffic.stats import exact_percentile

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
console = Console(highlight=False, width=150)  # logs and pipes too: tables unwrapped


@dataclass
class Context:
    """How this run of the benchmarks was asked for."""

    smoke: bool = False  # tiny sizes: proves the benchmark still runs, measures nothing
    out_dir: Path = RESULTS
    repeat: int | None = None  # overrides each benchmark's own repeat count
    # options one benchmark takes (`kills`: target, runs, seed, scenarios); None: its default
    options: dict[str, Any] = field(default_factory=dict)

    def runs(self, full: int, smoke: int = 1) -> int:
        """How many repetitions: the benchmark's default, the smoke size, or --repeat."""
        if self.repeat is not None:
            return self.repeat
        return smoke if self.smoke else full


@dataclass
class Result:
    """One benchmark's table: named columns, one dict per row, notes under it."""

    name: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)  # every repetition, for the JSON only


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, median, p95, max and min of a sample (p95 by nearest rank, so it is a real value)."""
    if not values:
        return {"n": 0, "median": math.nan, "p95": math.nan, "max": math.nan, "min": math.nan}
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p95": percentile(values, 95),
        "max": max(values),
        "min": min(values),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100] (the one the reports use); NaN when empty."""
    found = exact_percentile(values, q)
    return math.nan if found is None else found


def ms(seconds: float) -> str:
    """Seconds as milliseconds for a table cell."""
    return "–" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def secs(seconds: float) -> str:
    """Seconds for a table cell."""
    return "–" if math.isnan(seconds) else f"{seconds:.2f} s"


def machine() -> dict[str, Any]:
    """The machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def emit(result: Result, ctx: Context) -> Path:
    """Print the result as a table and write it as JSON under the output directory."""
    table = Table(title=result.title, title_justify="left")
    for column in result.columns:
        table.add_column(column)
    for row in result.rows:
        table.add_row(*(str(row.get(c, "")) for c in result.columns))
    console.print(table)
    for note in result.notes:
        console.print(f"  {note}")
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.out_dir / f"{result.name}.json"
    data = asdict(result)
    data["machine"] = machine()
    data["smoke"] = ctx.smoke
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def gameday(*args: str) -> list[str]:
    """argv for the gameday CLI in this interpreter."""
    return [sys.executable, "-m", "gameday.cli", *args]


def run_cli(
    *args: str, timeout: float = 600, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the gameday CLI as a user would; output captured."""
    return subprocess.run(
        gameday(*args), capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO
    )


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary directory the benchmark owns and removes."""
    with tempfile.TemporaryDirectory(prefix=f"gameday-bench-{prefix}-") as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def sandbox(state_dir: Path) -> Iterator[Path]:
    """A running embedded staging in `state_dir`, always brought down afterwards."""
    try:  # `up` inside: an interrupt while it starts must still bring down what it started
        up = run_cli("sandbox", "up", "--state-dir", str(state_dir), timeout=180)
        if up.returncode != 0:
            raise RuntimeError(f"sandbox up failed:\n{up.stdout}{up.stderr}")
        yield state_dir
    finally:
        run_cli("sandbox", "down", "--state-dir", str(state_dir), timeout=120)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of a file (blank lines skipped)."""
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def table_row(label: str, values: Mapping[str, float], fmt: Any = ms) -> dict[str, Any]:
    """A row of median / p95 / max for a label."""
    return {
        "": label,
        "n": int(values["n"]),
        "median": fmt(values["median"]),
        "p95": fmt(values["p95"]),
        "max": fmt(values["max"]),
    }


def markdown(data: dict[str, Any]) -> str:
    """A result's JSON as a Markdown table with its notes, for bench/README.md."""
    columns = data["columns"]
    lines = [f"**{data['title']}**", ""]
    lines.append("| " + " | ".join((c or " ").replace("|", "\\|") for c in columns) + " |")
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for row in data["rows"]:
        cells = (str(row.get(c, "")).replace("|", "\\|") for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [f"- {note}" for note in data.get("notes", [])]
    return "\n".join(lines) + "\n"


def library(name: str) -> dict[str, Any]:
    """A scenario of the drill library (scenarios/NAME.yaml) as data, to be varied."""
    data: dict[str, Any] = yaml.safe_load(
        (REPO / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8")
    )
    return data


def write_scenario(data: dict[str, Any], state_dir: Path, path: Path) -> Path:
    """Write a scenario aimed at the sandbox in `state_dir` to `path` (the input is not changed)."""
    aimed = {**data, "target": {**data["target"], "state_dir": str(state_dir)}}
    path.write_text(yaml.safe_dump(aimed, sort_keys=False), encoding="utf-8")
    return path


@contextlib.contextmanager
def docker_stack() -> Iterator[Any]:
    """A Docker staging built here (a `Stack`), or None when no engine answers; always removed."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception:
        yield None
        return
    import secrets

    from gameday.sandbox.container.image import build_image
    from gameday.sandbox.container.stack import RUN_LABEL, create_stack, remove_stack

    run_id = f"bench-{secrets.token_hex(4)}"
    image = f"gameday-staging:{run_id}"
    try:
        build_image(client, image, {RUN_LABEL: run_id})
        yield create_stack(client, image, f"gd-{run_id}", run_id)
    finally:
        remove_stack(client, run_id)
        for img in client.images.list(filters={"label": f"{RUN_LABEL}={run_id}"}):
            client.images.remove(img.id, force=True)
        client.close()
