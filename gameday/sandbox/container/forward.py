"""Port forwarding inside a container: 127.0.0.1:<peer port> to that peer's container.

The sandbox components reach each other on 127.0.0.1; in a container, forwarders carry
each peer's port (and each link's) over the real Docker networks, where faults act.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading

from gameday.sandbox.state import SandboxState

RESOLVE_TIMEOUT_S = 1.0
CONNECT_TIMEOUT_S = 2.0


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class Resolver:
    """Peer names looked up in daemon threads; relays to a peer share a recent lookup.

    Docker's DNS answers for a peer that is stopped or cut off only after the stub
    resolver's timeouts (~10 s). In the event loop's default executor such a lookup held a
    worker thread that the interpreter joins at exit, so a container outlived Docker's stop
    grace period; a few of them also filled the pool and stalled lookups of healthy peers.
    A daemon thread is not joined at exit. A lookup is shared for ``timeout_s`` only: a
    peer back on the network is found by the next lookup, not after a stuck one ends.
    """

    def __init__(self, timeout_s: float = RESOLVE_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._pending: dict[str, tuple[float, asyncio.Future[str | OSError]]] = {}

    async def resolve(self, host: str, port: int) -> str:
        """The address of ``host``; OSError if it has none, TimeoutError if it takes too long."""
        loop = asyncio.get_running_loop()
        started, fut = self._pending.get(host, (0.0, None))
        if fut is None or loop.time() - started >= self.timeout_s:
            fut = loop.create_future()
            self._pending[host] = (loop.time(), fut)
            threading.Thread(
                target=self._lookup, args=(loop, host, port, fut), name="resolve", daemon=True
            ).start()
        # shielded: a relay giving up must not cancel the lookup others wait for
        result = await asyncio.wait_for(asyncio.shield(fut), self.timeout_s)
        if isinstance(result, OSError):
            raise OSError(f"{host}: {result}")
        return result

    def _lookup(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        fut: asyncio.Future[str | OSError],
    ) -> None:
        result: str | OSError
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            result = str(infos[0][4][0]) if infos else OSError("no address")
        except OSError as exc:
            result = exc

        def done() -> None:
            if self._pending.get(host, (0.0, None))[1] is fut:
                del self._pending[host]
            if not fut.done():
                fut.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(done)


async def _relay(
    resolver: Resolver,
    host: str,
    port: int,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    try:
        # a peer cut off the network has no DNS name: fail fast, like a refused connection
        addr = await resolver.resolve(host, port)
        up_reader, up_writer = await asyncio.wait_for(
            asyncio.open_connection(addr, port), CONNECT_TIMEOUT_S
        )
    except (OSError, TimeoutError):
        writer.close()
        return
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _forward_all(routes: dict[int, tuple[str, int]]) -> None:
    resolver = Resolver()
    servers = []
    for listen, (host, port) in routes.items():

        async def on_conn(
            r: asyncio.StreamReader, w: asyncio.StreamWriter, h: str = host, p: int = port
        ) -> None:
            await _relay(resolver, h, p, r, w)

        servers.append(await asyncio.start_server(on_conn, "127.0.0.1", listen, reuse_address=True))
    await asyncio.Event().wait()


def start_forwarders(state: SandboxState, me: str) -> None:
    """127.0.0.1:<peer port> → peer, and 127.0.0.1:<link port> → link's destination, in a thread."""
    routes = {c.port: (n, c.port) for n, c in state.components.items() if n != me}
    routes.update(
        {lk.listen_port: (lk.dst, lk.upstream_port) for lk in state.links.values() if lk.src == me}
    )
    ready = threading.Event()

    def run() -> None:
        async def main() -> None:
            task = asyncio.ensure_future(_forward_all(routes))
            await asyncio.sleep(0.2)
            ready.set()
            await task

        asyncio.run(main())

    threading.Thread(target=run, name="forwarders", daemon=True).start()
    ready.wait(5.0)
