"""A small fault-injecting TCP proxy on 127.0.0.1, for network partitions between validators.

Every directed link i -> j (validator i dialing validator j) gets a listening port of its own
that forwards to j's real peer port; `proxied_network` writes each validator's config so that it
dials its peers through those ports. A link is *open* (bytes flow) or *cut*. Cutting is silent,
like a real partition: bytes in both directions are read and thrown away, new connections are
accepted and then hear nothing, and nobody gets a reset, so the validators must notice by their
own keepalive and idle timeouts. Healing closes every connection that lived through the cut
(its byte stream has holes, so it could only fail authentication) and forwards new ones again.

The proxy runs its own trio loop in a background thread, so the test's blocking calls (starting
node processes) never hold up forwarding. Use `ProxyHub` as a context manager.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from types import TracebackType

import trio

from network.localnet import LocalNetwork

HOST = "127.0.0.1"
CHUNK_BYTES = 65536
START_TIMEOUT_S = 10.0


class _Link:
    """One directed link: a listening socket and the connections it carries."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        self.cut = False
        self.pipes: set[_Pipe] = set()


class _Pipe:
    """One proxied connection; `tainted` once it has lost bytes to a cut."""

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.tainted = False


class ProxyHub:
    """Per-link proxies between validators; cut and heal links while they run."""

    def __init__(self) -> None:
        self._links: dict[tuple[int, int], _Link] = {}
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.CancelScope | None = None
        self._started = threading.Event()
        self.forwarded_bytes = 0
        self.dropped_bytes = 0

    def add_link(self, source: int, target: int, target_port: int) -> int:
        """A proxy for `source` dialing `target` at `target_port`; returns its listening port."""
        if self._thread is not None:
            raise RuntimeError("add links before start()")
        link = self._links[(source, target)] = _Link(target_port)
        return link.port

    # ------------------------------------------------------------------ control (any thread)

    def start(self) -> None:
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            raise RuntimeError("the proxy did not start")

    def close(self) -> None:
        if self._thread is None:
            return
        if self._stop is not None:
            self._call(self._stop.cancel)
        self._thread.join(START_TIMEOUT_S)
        self._thread = None
        for link in self._links.values():
            link.sock.close()

    def __enter__(self) -> ProxyHub:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def partition(self, *groups: Iterable[int]) -> None:
        """Cut every link between validators of different groups (both directions)."""
        side = {v: g for g, members in enumerate(groups) for v in members}
        self._set_from_thread([k for k in self._links if side.get(k[0]) != side.get(k[1])], True)

    def heal(self) -> None:
        """Open every link again."""
        self._set_from_thread(list(self._links), False)

    def is_cut(self, source: int, target: int) -> bool:
        return self._links[(source, target)].cut

    def _set_from_thread(self, keys: list[tuple[int, int]], cut: bool) -> None:
        self._call(lambda: self._set(keys, cut))

    def _call(self, fn: Callable[[], None]) -> None:
        """Run `fn` in the proxy's loop and wait for it (callable from any thread, including
        another trio loop, where `trio.from_thread` refuses)."""
        if self._token is None:
            raise RuntimeError("the proxy is not running")
        done = threading.Event()
        errors: list[BaseException] = []

        def job() -> None:
            try:
                fn()
            except BaseException as exc:  # handed back to the caller below
                errors.append(exc)
            finally:
                done.set()

        self._token.run_sync_soon(job)
        if not done.wait(START_TIMEOUT_S):
            raise RuntimeError("the proxy's loop does not answer")
        if errors:
            raise errors[0]

    # ------------------------------------------------------------------ the trio side

    def _set(self, keys: list[tuple[int, int]], cut: bool) -> None:
        for key in keys:
            link = self._links[key]
            link.cut = cut
            for pipe in list(link.pipes):
                if cut:
                    pipe.tainted = True
                elif pipe.tainted:
                    pipe.scope.cancel()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as self._stop:
            async with trio.open_nursery() as nursery:
                for link in self._links.values():
                    listener = trio.SocketListener(trio.socket.from_stdlib_socket(link.sock))
                    handler = partial(self._serve, link)
                    nursery.start_soon(trio.serve_listeners, handler, [listener])
                self._started.set()

    async def _serve(self, link: _Link, downstream: trio.SocketStream) -> None:
        pipe = _Pipe()
        link.pipes.add(pipe)
        upstream: trio.SocketStream | None = None
        try:
            with pipe.scope:
                if link.cut:
                    pipe.tainted = True  # born in a partition: accepted, then silence
                else:
                    try:
                        upstream = await trio.open_tcp_stream(HOST, link.target_port)
                    except OSError:
                        return
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump, link, pipe, downstream, upstream)
                    if upstream is not None:
                        nursery.start_soon(self._pump, link, pipe, upstream, downstream)
        finally:
            link.pipes.discard(pipe)
            await trio.aclose_forcefully(downstream)
            if upstream is not None:
                await trio.aclose_forcefully(upstream)

    async def _pump(
        self,
        link: _Link,
        pipe: _Pipe,
        source: trio.SocketStream,
        sink: trio.SocketStream | None,
    ) -> None:
        try:
            while data := await source.receive_some(CHUNK_BYTES):
                if link.cut or pipe.tainted or sink is None:
                    self.dropped_bytes += len(data)
                    continue
                await sink.send_all(data)
                self.forwarded_bytes += len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        pipe.scope.cancel()  # one side ended: end the connection


def proxied_network(
    directory: Path, hub: ProxyHub, *, validators: int, config: str
) -> LocalNetwork:
    """A `LocalNetwork` whose validators dial each other only through `hub`'s links."""
    net = LocalNetwork(directory, validators=validators, config_extra=config)
    ports = net.layout.p2p_ports
    for i, path in enumerate(net.layout.configs):
        text = path.read_text("utf-8")
        for j in range(validators):
            if j == i:
                continue
            real = f'address = "{HOST}:{ports[j]}"'
            if len(re.findall(re.escape(real), text)) != 1:
                raise RuntimeError(f"{path} does not list validator {j} once at {real}")
            text = text.replace(real, f'address = "{HOST}:{hub.add_link(i, j, ports[j])}"')
        path.write_text(text, "utf-8")
    return net
