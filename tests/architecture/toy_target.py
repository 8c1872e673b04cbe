"""A toy target type, defined entirely outside gameday/: a web server process on 127.0.0.1.

Registered through the registry alone (its model, its driver, one TargetType); the tests
run real drills against it to show that a new target needs no change inside gameday/.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal

from gameday.ports import free_port
from gameday.scenarios.model import CrashFault, Strict
from gameday.scenarios.target_types import TargetKind
from gameday.targets import registry
from gameday.targets.base import (
    FaultAction,
    FaultPlan,
    Health,
    Target,
    TargetError,
    UnknownService,
)
from gameday.targets.registry import TargetType


class ToyTarget(Strict):
    """`target: {type: toy}`: one static web server the drill starts and stops itself."""

    type: Literal["toy"]


class ToyDriver(Target):
    """Starts `python -m http.server` on a free port; crash kills it, revert starts it again."""

    name: ClassVar[str] = "toy"
    servers: ClassVar[dict[int, subprocess.Popen[bytes]]] = {}  # port -> server, for cleanup

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()

    def spec(self) -> dict[str, Any]:
        return {"port": self.port}

    def ensure_running(self) -> bool:
        if self.listening():
            return False
        self.start()
        self.started = True
        return True

    def start(self) -> int:
        """Start the server and wait until it accepts connections; returns its pid."""
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.servers[self.port] = server
        deadline = time.monotonic() + 10
        while not self.listening():
            if time.monotonic() > deadline:
                raise TargetError(f"toy server on {self.port} did not start")
            time.sleep(0.05)
        return server.pid

    def listening(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def variables(self) -> dict[str, str]:
        return {"url": f"http://127.0.0.1:{self.port}"}

    def preflight(self, services: set[str]) -> list[str]:
        return [
            UnknownService(s, f"unknown service {s!r}; the toy has: web")
            for s in sorted(services)
            if s != "web"
        ]

    def health(self) -> Health:
        return Health(self.listening(), "listening" if self.listening() else "down")

    def close(self) -> None:
        if self.started:
            self.stop_started()

    def stop_started(self) -> bool:
        server = self.servers.pop(self.port, None)
        if server is None:
            return False
        server.kill()
        server.wait()
        return True


class ToyCrash(FaultAction[ToyDriver]):
    """SIGKILL the server; revert starts a new one on the same port."""

    def plan(self, driver: ToyDriver, fault: CrashFault) -> FaultPlan:
        server = driver.servers[driver.port]
        undo = {"kind": "start", "restart": fault.restart}
        return FaultPlan(
            fault.label(), fault.action, "toy", driver.spec(), undo, (f"pid {server.pid}",)
        )

    def apply(self, driver: ToyDriver, plan: FaultPlan) -> Mapping[str, Any]:
        server = driver.servers[driver.port]
        os.kill(server.pid, signal.SIGKILL)
        server.wait(5)
        return {"killed": server.pid}

    def revert(self, driver: ToyDriver, plan: FaultPlan) -> Mapping[str, Any]:
        if driver.listening() or not plan.undo.get("restart", True):
            return {"noop": True}
        return {"started": driver.start()}


ToyDriver.actions = {"crash": ToyCrash()}

TOY = TargetType(
    kind=TargetKind("toy", ToyTarget, variables=frozenset({"url"}), faults=frozenset({"crash"})),
    driver=lambda model: ToyDriver(),
    from_spec=lambda spec: ToyDriver(int(spec["port"])),
)


def toy_registered() -> Iterator[None]:
    """Register the toy type for one test; kill whatever servers it started afterwards."""
    registry.register(TOY)
    try:
        yield
    finally:
        registry.unregister("toy")
        for server in ToyDriver.servers.values():
            server.kill()
        ToyDriver.servers.clear()


# `gameday` as its own process with the toy type registered (run from the repository root)
_TOY_CLI = """
import sys
from gameday.cli import main
from gameday.targets import registry
from tests.architecture.toy_target import TOY
registry.register(TOY)
{before}
sys.exit(main(sys.argv[1:]))
"""


def toy_cli(*args: str, before: str = "") -> list[str]:
    """The argv of a `gameday ARGS` process that knows the toy type; `before` runs first."""
    return [sys.executable, "-c", _TOY_CLI.format(before=before), *args]
