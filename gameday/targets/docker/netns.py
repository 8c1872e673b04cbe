"""iptables and tc netem in a container's network namespace, through ``nsenter``.

The host's own binaries run in the namespace of the container's main process, so the engine
must be local and we must be root. A partition is one DROP chain hooked into INPUT and
OUTPUT; latency replaces each interface's root qdisc with netem, where the kernel has it.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess

from ..base import TargetError, UnsupportedFault

CHAIN_PREFIX = "GAMEDAY-"


def netns_tool(tool: str, docker_host: str | None) -> str:
    """The host binary run in containers' network namespaces (via nsenter)."""
    if docker_host and not docker_host.startswith("unix://"):
        raise UnsupportedFault(
            f"{tool} rules need a local Docker engine (DOCKER_HOST is {docker_host})"
        )
    if os.geteuid() != 0:
        raise UnsupportedFault(f"{tool} in containers' network namespaces needs root")
    for name in (tool, f"{tool}-legacy") if tool == "iptables" else (tool,):
        path = shutil.which(name) or next(
            (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None
        )
        if path and shutil.which("nsenter"):
            return path
    raise UnsupportedFault(f"{tool} and nsenter must be installed on the Docker host")


def nsenter(pid: int, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in the network namespace of ``pid``; TargetError if it fails (``check``)."""
    proc = subprocess.run(
        ["nsenter", "-t", str(pid), "-n", *argv],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    if check and proc.returncode != 0:
        raise TargetError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def iptables_install(pid: int, tool: str, chain: str, peers: list[str]) -> None:
    """Create (or flush) ``chain`` dropping ``peers`` and hook it first into INPUT and OUTPUT."""
    if nsenter(pid, [tool, "-w", "-n", "-L", chain], check=False).returncode != 0:
        nsenter(pid, [tool, "-w", "-N", chain])
    nsenter(pid, [tool, "-w", "-F", chain])
    for ip in peers:
        ipaddress.ip_address(ip)  # never pass anything but an address to iptables
        nsenter(pid, [tool, "-w", "-A", chain, "-s", ip, "-j", "DROP"])
        nsenter(pid, [tool, "-w", "-A", chain, "-d", ip, "-j", "DROP"])
    for hook in ("INPUT", "OUTPUT"):
        if nsenter(pid, [tool, "-w", "-C", hook, "-j", chain], check=False).returncode:
            nsenter(pid, [tool, "-w", "-I", hook, "1", "-j", chain])


def iptables_remove(pid: int, tool: str, chain: str) -> str:
    """Unhook and delete ``chain``: "removed", or "absent" when it was not there."""
    for hook in ("INPUT", "OUTPUT"):
        for _ in range(100):
            if nsenter(pid, [tool, "-w", "-D", hook, "-j", chain], check=False).returncode:
                break
    if nsenter(pid, [tool, "-w", "-n", "-L", chain], check=False).returncode == 0:
        nsenter(pid, [tool, "-w", "-F", chain])
        nsenter(pid, [tool, "-w", "-X", chain])
        return "removed"
    return "absent"


def chains(pid: int, tool: str = "iptables") -> list[str]:
    """gameday chains in the network namespace of ``pid``."""
    out = nsenter(pid, [tool, "-w", "-S"], check=False).stdout
    return sorted({w for w in out.split() if w.startswith(CHAIN_PREFIX)})


def interfaces(pid: int) -> list[str]:
    """The network interfaces in the namespace of ``pid``, but lo."""
    out = nsenter(pid, ["ip", "-o", "link", "show"], check=False).stdout
    found = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
    return [n for n in found if n and n != "lo"]


def netem_add(pid: int, tc: str, delay_ms: float, jitter_ms: float, name: str) -> list[str]:
    """Delay every interface of ``pid``'s namespace; returns them. ``name`` is for errors."""
    ifaces = interfaces(pid)
    for iface in ifaces:
        argv = [tc, "qdisc", "replace", "dev", iface, "root", "netem", "delay", f"{delay_ms:g}ms"]
        if jitter_ms:
            argv.append(f"{jitter_ms:g}ms")
        proc = nsenter(pid, argv, check=False)
        if proc.returncode != 0:
            if "unknown" in proc.stderr.lower():
                raise UnsupportedFault(
                    "tc netem is not available in this host's kernel: latency is not "
                    "supported on this host"
                )
            raise TargetError(f"tc netem on {name}/{iface}: {proc.stderr.strip()}")
    return ifaces


def netem_del(pid: int, tc: str) -> str:
    """Delete the root qdisc of every interface of ``pid``'s namespace."""
    for iface in interfaces(pid):
        nsenter(pid, [tc, "qdisc", "del", "dev", iface, "root"], check=False)
    return "removed"


def netem_available() -> bool:
    """Whether this kernel can run the netem qdisc (loaded, built in, or loadable)."""
    if os.path.exists("/sys/module/sch_netem"):
        return True
    modprobe = shutil.which("modprobe") or (
        "/sbin/modprobe" if os.path.exists("/sbin/modprobe") else None
    )
    if modprobe is None:
        return False
    proc = subprocess.run([modprobe, "-n", "-q", "sch_netem"], capture_output=True, check=False)
    return proc.returncode == 0
