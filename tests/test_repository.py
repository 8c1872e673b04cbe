"""Repository-level promises: the README's commands are what CI runs, and the code is lint-clean."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.+?)\n```", text)[:2]


def test_readme_opens_with_a_drill_command_and_a_test_command() -> None:
    drill, tests = readme_commands()
    assert "gameday" in drill and "pip install" in drill
    assert "pytest" in tests and "pip install" in tests


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = readme_commands()
    assert tests in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def _tool(name: str) -> str:
    found = Path(sys.executable).parent / name
    if found.exists():
        return str(found)
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return path


def test_ruff_clean() -> None:
    result = subprocess.run([_tool("ruff"), "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean() -> None:
    result = subprocess.run([_tool("mypy")], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


_FENCED = re.compile(r"^```.*?^```", re.S | re.M)
# a Markdown link's target, or an inline code span naming a path upwards (`../x/DESIGN.md`)
_LINKED = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)|`(\.\./[^`\s]+)`")


def _documents(root: Path) -> list[Path]:
    """The Markdown files git tracks under ``root`` (every one when it is not a git checkout)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "*.md"], cwd=root, capture_output=True, text=True
    )
    if listed.returncode == 0:
        return [root / name for name in sorted(listed.stdout.split("\0")) if name]
    return sorted(root.rglob("*.md"))


def broken_links(root: Path) -> list[str]:
    """Links in the Markdown files under ``root`` that leave it or name nothing there."""
    found: list[str] = []
    for doc in _documents(root):
        rel = doc.relative_to(root)
        text = _FENCED.sub("", doc.read_text(encoding="utf-8"))
        for match in _LINKED.finditer(text):
            target = (match.group(1) or match.group(2)).split("#", 1)[0]
            if not target or re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue  # an anchor on the same page, or a URL
            path = (doc.parent / target).resolve()
            if not path.is_relative_to(root.resolve()) or not path.exists():
                found.append(f"{rel}: {target}")
    return found


def test_documents_link_only_to_files_in_the_repository(tmp_path: Path) -> None:
    assert broken_links(REPO) == []
    # negative control: the README once named a design document beside the repository
    (tmp_path / "repo" / "docs").mkdir(parents=True)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "DESIGN.md").write_text("# design\n")
    (tmp_path / "repo" / "docs" / "a.md").write_text("# a\n")
    (tmp_path / "repo" / "README.md").write_text(
        "[ok](docs/a.md#top) [web](https://example.com) [here](#x)\n"
        "The design is in `../shared/DESIGN.md`. [design](../shared/DESIGN.md) [gone](docs/b.md)\n"
        "```yaml\n# yaml-language-server: $schema=../schema/s.json\n```\n"
    )
    assert broken_links(tmp_path / "repo") == [
        "README.md: ../shared/DESIGN.md",
        "README.md: ../shared/DESIGN.md",
        "README.md: docs/b.md",
    ]
