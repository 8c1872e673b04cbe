"""The HTML report of every library drill renders in headless Chromium without console errors."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from gameday.reports.html import render_html
from gameday.reports.model import Report, ScenarioInfo
from gameday.scenarios.model import Scenario
from tests.conftest import LIBRARY

from .helpers import real_report, synthetic_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)"
)
LIBRARY_DRILLS = sorted(p.stem for p in LIBRARY.glob("*.yaml") if "Scenario" in p.read_text())


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp)},
    )


def _png_size_and_colours(path: Path) -> tuple[int, int, set[tuple[int, int, int]]]:
    """Width, height and a sample of colours of a PNG (no imaging library needed)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, ctype = struct.unpack(">IIBB", ihdr[:10])
    assert depth == 8 and ctype in (2, 6)
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev, colours = bytearray(stride), set()
    for y in range(height):
        f, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[f]
            line[i] = (line[i] + pred) & 0xFF
        if y % 4 == 0:
            colours.update(tuple(line[i : i + 3]) for i in range(0, stride, bpp * 4))  # type: ignore[misc]
        prev = line
    return width, height, colours  # type: ignore[return-value]


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _library_report(name: str) -> Report:
    # the real drill's data under each library scenario's identity and objectives
    scenario = Scenario.model_validate(yaml.safe_load((LIBRARY / f"{name}.yaml").read_text()))
    base = real_report() if name == "db-primary-crash" else synthetic_report()
    return replace(
        base, scenario=ScenarioInfo.of(scenario, str(LIBRARY / f"{name}.yaml"), "0" * 64)
    )


def _console_errors(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "ERR_FILE_NOT_FOUND" in line
    ]


@pytest.mark.parametrize("name", LIBRARY_DRILLS)
def test_library_report_renders_without_console_errors(tmp_path: Path, name: str) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(_library_report(name)), encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert not _console_errors(dom.stderr), _console_errors(dom.stderr)
    assert 'id="objectives-table"' in dom.stdout and 'id="timeline-chart"' in dom.stdout


def test_screenshot_shows_objectives_table_and_chart(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(synthetic_report()), encoding="utf-8")
    shot = tmp_path / "shot.png"
    run = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1900", page.as_uri())
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    assert not _console_errors(run.stderr)
    width, height, colours = _png_size_and_colours(shot)
    assert (width, height) == (1200, 1900)
    # the FAILED badge / missed verdicts (#b91c1c), probe lanes failing (#dc2626) and ok
    # (#16a34a), the fault band over white, the success series (#2563eb): drawn, not just in the DOM
    for colour in [(0xB9, 0x1C, 0x1C), (0xDC, 0x26, 0x26), (0x16, 0xA3, 0x4A), (0x25, 0x63, 0xEB)]:
        assert any(all(abs(a - b) <= 8 for a, b in zip(c, colour, strict=True)) for c in colours), (
            colour
        )


def test_prints_to_pdf(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(real_report()), encoding="utf-8")
    pdf = tmp_path / "report.pdf"
    run = _chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    assert run.returncode == 0 and pdf.is_file(), run.stderr[-2000:]
    data = pdf.read_bytes()
    pages = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
    assert data.startswith(b"%PDF") and 2 <= pages <= 12, pages
