"""Command probe: a local argv (no shell); passes on the expected exit code."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

from ...scenarios.model import CommandProbe
from .base import Observation, Prober, short, timeout_detail

_OUTPUT_LIMIT = 64 * 1024


class CommandProber(Prober[CommandProbe]):
    """Runs the command in its own session so a timeout kills it and its children."""

    async def sample(self) -> Observation:
        """Run once; value is the exit code."""
        start = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.model.run,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except Exception as exc:
            return Observation(False, detail=short(f"cannot run {self.model.run[0]}: {exc}"))
        try:
            async with asyncio.timeout(self.timeout):
                _, stderr = await proc.communicate()
        except (TimeoutError, asyncio.CancelledError) as exc:
            await self._kill(proc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return Observation(False, detail=timeout_detail(self.timeout))
        latency = time.monotonic() - start
        code = proc.returncode if proc.returncode is not None else -1
        if code == self.model.expect_exit:
            return Observation(True, latency=latency, value=code)
        tail = stderr[-_OUTPUT_LIMIT:].decode(errors="replace").strip().splitlines()
        detail = f"exit {code}" + (f": {tail[-1]}" if tail else "")
        return Observation(False, latency=latency, value=code, detail=short(detail))

    @staticmethod
    async def _kill(proc: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await proc.wait()
