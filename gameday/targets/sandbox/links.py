"""Link faults on the sandbox: network-cut, partition and latency, through its fault proxy.

Every link between the sandbox's parts passes through the proxy. Link faults keep a small
overlay registry in the state dir, so overlapping faults on one link revert correctly in
any order; an isolated primary that the failover controller fenced is restarted on
revert as the writer's standby.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from ...sandbox import manage
from ...sandbox.state import DATABASES, atomic_write_json, link_name, pid_alive
from ...scenarios.model import LatencyFault, NetworkCutFault, PartitionFault
from ..base import FaultAction, FaultPlan, TargetError, UnsupportedFault, acting
from .driver import DRIVER, SandboxDriver, unknown_name
from .processes import await_failover_settled, await_fenced_exit, start_components

REGISTRY_FILE = "link-faults.json"
REGISTRY_LOCK = "link-faults.lock"
LinkSetting = dict[str, Any]  # {"state": open|cut|latency, "mode": ..., "latency_ms": ...}
OPEN: LinkSetting = {"state": "open", "mode": "blackhole", "latency_ms": 0.0}


class _LinkAction(FaultAction[SandboxDriver]):
    def apply(self, driver: SandboxDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Set the links through the proxy and confirm it reports the new state."""
        return apply_links(driver, plan.undo)

    def revert(self, driver: SandboxDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Take this fault's layer off each link; restart databases the cut had fenced."""
        if driver.state_or_none() is None:
            return {"skipped": f"no sandbox in {driver.state_dir}"}
        return revert_links(driver, plan.undo)


class NetworkCutAction(_LinkAction):
    """Cut every link with exactly one end inside the service (its own links stay up)."""

    def plan(self, driver: SandboxDriver, fault: NetworkCutFault) -> FaultPlan:
        """The links crossing the service's boundary."""
        comps = driver.resolve(fault.service)
        names = crossing(driver, set(comps))
        setting = {"state": "cut", "mode": fault.mode, "latency_ms": 0.0}
        detail = {"service": fault.service}
        return link_plan(driver, fault.label(), fault.action, names, setting, detail, comps)


class PartitionAction(_LinkAction):
    """Cut every link between two groups of services, both ways."""

    def plan(self, driver: SandboxDriver, fault: PartitionFault) -> FaultPlan:
        """The links from one group to the other."""
        a = {c for s in fault.between[0] for c in driver.resolve(s)}
        b = {c for s in fault.between[1] for c in driver.resolve(s)}
        names = [
            lk.name
            for lk in driver.state().links.values()
            if (lk.src in a and lk.dst in b) or (lk.src in b and lk.dst in a)
        ]
        setting = {"state": "cut", "mode": "blackhole", "latency_ms": 0.0}
        detail = {"between": fault.between}
        return link_plan(driver, fault.label(), fault.action, names, setting, detail, [*a, *b])


class LatencyAction(_LinkAction):
    """A constant delay on one link, or on every link crossing a service's boundary."""

    def plan(self, driver: SandboxDriver, fault: LatencyFault) -> FaultPlan:
        """The links, and half the round-trip delay for each direction."""
        if fault.jitter:
            raise UnsupportedFault(
                "the sandbox's fault proxy adds a constant delay; jitter is not supported"
            )
        if fault.link:
            src, dst = fault.link.split("->")
            name = link_name(src, dst)
            known = driver.state().links
            if name not in known:
                pairs = [f"{lk.src}->{lk.dst}" for lk in known.values()]
                raise TargetError(unknown_name(fault.link, pairs, what="link"))
            names = [name]
        else:
            names = crossing(driver, set(driver.resolve(str(fault.service))))
        # the proxy delays each direction: half each way adds `delay` to a round trip
        per_direction_ms = fault.delay * 1000.0 / 2
        setting = {"state": "latency", "mode": "blackhole", "latency_ms": per_direction_ms}
        detail = {"round_trip_delay_ms": fault.delay * 1000.0}
        return link_plan(driver, fault.label(), fault.action, names, setting, detail)


def _norm(link: Mapping[str, Any]) -> LinkSetting:
    state = str(link.get("state", "open"))
    return {
        "state": state,
        "mode": str(link.get("mode") or "blackhole") if state == "cut" else "blackhole",
        "latency_ms": float(link.get("latency_ms") or 0.0) if state == "latency" else 0.0,
    }


def crossing(driver: SandboxDriver, inside: set[str]) -> list[str]:
    # links with exactly one end inside: isolating a site keeps its own internal links
    return [
        lk.name for lk in driver.state().links.values() if (lk.src in inside) != (lk.dst in inside)
    ]


def link_plan(
    driver: SandboxDriver,
    label: str,
    action: str,
    names: list[str],
    setting: LinkSetting,
    detail: dict[str, Any],
    isolated: list[str] | None = None,
) -> FaultPlan:
    if not names:
        raise TargetError(f"{label}: no proxy link matches (nothing to cut)")
    current = {lk["name"]: _norm(lk) for lk in driver.admin(lambda c: c.links())}
    undo = {
        "kind": "links",
        "token": secrets.token_hex(8),
        "set": setting,
        "links": {n: current.get(n, OPEN) for n in names},
        # an isolated primary gets fenced (stopped) by the failover controller:
        # reverting the cut brings these databases back, as standbys of the writer
        "databases": sorted(c for c in isolated or [] if c in DATABASES),
    }
    return FaultPlan(label, action, DRIVER, driver.spec(), undo, tuple(names), detail)


@contextlib.contextmanager
def link_registry(driver: SandboxDriver) -> Iterator[dict[str, Any]]:
    state = driver.state()
    fd = os.open(driver.state_dir / REGISTRY_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = driver.state_dir / REGISTRY_FILE
        try:
            reg: dict[str, Any] = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            reg = {}
        if reg.get("sandbox") != state.created_wall:  # left by an earlier sandbox
            reg = {"sandbox": state.created_wall, "links": {}}
        yield reg
        atomic_write_json(path, reg)
    finally:
        os.close(fd)


def apply_links(driver: SandboxDriver, undo: Mapping[str, Any]) -> dict[str, Any]:
    token, setting = str(undo["token"]), dict(undo["set"])
    names = list(undo["links"])
    with link_registry(driver) as reg:
        current = {lk["name"]: _norm(lk) for lk in driver.admin(lambda c: c.links())}
        for name in names:
            entry = reg["links"].setdefault(name, {"base": current.get(name, OPEN), "layers": []})
            if not any(t == token for t, _ in entry["layers"]):
                entry["layers"].append([token, setting])
            with acting():
                set_link(driver, name, setting)
    after = {lk["name"]: _norm(lk) for lk in driver.admin(lambda c: c.links())}
    wrong = [n for n in names if after.get(n) != _norm(setting)]
    if wrong:
        raise TargetError(f"proxy did not apply {setting['state']} to {', '.join(wrong)}")
    return {"links": names, "set": setting}


def revert_links(driver: SandboxDriver, undo: Mapping[str, Any]) -> dict[str, Any]:
    state = driver.state()
    proxy_pid = state.components["proxy"].pid
    if not pid_alive(proxy_pid):
        # a restarted proxy opens every link: nothing of this fault can be in force
        return {"skipped": "proxy not running"}
    token, setting = str(undo["token"]), _norm(undo["set"])
    restored: dict[str, LinkSetting] = {}
    left: list[str] = []
    with link_registry(driver) as reg:
        current = {lk["name"]: _norm(lk) for lk in driver.admin(lambda c: c.links())}
        for name, prev in dict(undo["links"]).items():
            entry = reg["links"].get(name)
            if entry is not None and any(t == token for t, _ in entry["layers"]):
                entry["layers"] = [[t, s] for t, s in entry["layers"] if t != token]
                target = entry["layers"][-1][1] if entry["layers"] else entry["base"]
                if not entry["layers"]:
                    del reg["links"][name]
            elif entry is None and current.get(name) == setting:
                # journaled but the registry never saw it (died mid-apply): undo by the plan
                target = _norm(prev)
            else:
                left.append(name)  # not ours now: another fault holds this link
                continue
            if current.get(name) != _norm(target):
                set_link(driver, name, target)
            restored[name] = _norm(target)
    result: dict[str, Any] = {"restored": restored, "untouched": left}
    if undo.get("databases") and not left:
        # a fence may still be on its way: let the controller settle before looking
        await_failover_settled(driver)
        await_fenced_exit(driver, list(undo["databases"]))
        down = [
            db
            for db in undo["databases"]
            if driver.call(lambda d=db: manage.component_pid(driver.state_dir, d)) is None
        ]
        if down:
            result["restarted"] = start_components(driver, down)["started"]
    return result


def set_link(driver: SandboxDriver, name: str, setting: Mapping[str, Any]) -> None:
    state: Literal["open", "cut", "latency"] = setting["state"]
    mode: Literal["blackhole", "reset"] = setting.get("mode") or "blackhole"
    latency = float(setting.get("latency_ms") or 0.0)
    driver.admin(lambda c: c.set_link(name, state, mode, latency))
