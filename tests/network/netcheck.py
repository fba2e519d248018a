"""What the end-to-end tests ask of a running `LocalNetwork`, each with a deadline.

The node tests poke real validator processes through their HTTP API and their log files.
`NetProbe` gathers those reads: heights from `/status`, block ids from `/blocks/{h}`, the
equivocation-evidence counter from `/metrics`, and the JSON log lines each node writes to
`node{i}.log`. Every wait has a deadline; when one expires, or a check fails, the
`AssertionError` carries the tail of the relevant nodes' logs, so a red test explains itself.
Lifecycle calls of `LocalNetwork` block (they wait for a process); the async wrappers here run
them in a worker thread so a proxy or a probe running in the test's trio loop keeps going.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import httpx
import trio

from network.localnet import LocalNetwork

DEADLINE_S = 60.0
"""Default for every wait: generous, because the machine is shared; a passing test never
waits this long."""
POLL_S = 0.05
TAIL_LINES = 25
EVIDENCE_METRIC = "depositnet_evidence_seen_total"

FAULT_TEST_CONFIG = """
[timeouts]
propose_ms = 300
propose_delta_ms = 100
prevote_ms = 200
prevote_delta_ms = 100
precommit_ms = 200
precommit_delta_ms = 100

[transport]
redial_base_ms = 50
redial_cap_ms = 500
keepalive_ms = 250
idle_timeout_ms = 2000
"""
"""Config tables for the networks the fault tests build: with a validator down, a round it
should propose waits out `propose_ms`, so that stays short; a silent peer (a partition that
drops packets) is noticed after `idle_timeout_ms`."""


class NetProbe:
    """HTTP and log reads over the validators of one `LocalNetwork`; use `async with`."""

    def __init__(self, net: LocalNetwork, *, request_timeout_s: float = 5.0) -> None:
        self.net = net
        self._http = httpx.AsyncClient(timeout=request_timeout_s)

    async def __aenter__(self) -> NetProbe:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ logs

    def log_size(self, index: int) -> int:
        """The current length of node `index`'s log: pass it to `log_records(since=...)`."""
        path = self.net.log_path(index)
        return path.stat().st_size if path.exists() else 0

    def log_records(self, index: int, *, since: int = 0) -> list[dict[str, Any]]:
        """Node `index`'s JSON log records written after byte offset `since`."""
        path = self.net.log_path(index)
        if not path.exists():
            return []
        with path.open("rb") as f:
            f.seek(since)
            data = f.read()
        records = []
        for line in data.decode("utf-8", "replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # "stopped", a partial last line, or a traceback
            if isinstance(record, dict):
                records.append(record)
        return records

    def tail(self, index: int, lines: int = TAIL_LINES) -> str:
        path = self.net.log_path(index)
        if not path.exists():
            return f"--- node{index}.log: missing"
        text = path.read_text("utf-8", "replace").splitlines()[-lines:]
        return f"--- last {len(text)} lines of node{index}.log:\n" + "\n".join(text)

    def fail(self, message: str, nodes: Iterable[int] | None = None) -> NoReturn:
        """Raise AssertionError with `message` and the log tails of `nodes` (default: all)."""
        indices = range(self.net.size) if nodes is None else nodes
        raise AssertionError("\n".join([message, *(self.tail(i) for i in indices)]))

    @contextmanager
    def logs_on_failure(self, nodes: Iterable[int] | None = None) -> Iterator[None]:
        """Print the log tails of `nodes` (default: all) if the block raises (pytest shows
        a failing test's output), for failures that do not go through `fail`."""
        try:
            yield
        except Exception:
            indices = range(self.net.size) if nodes is None else nodes
            print("\n".join(self.tail(i) for i in indices))
            raise

    def equivocation_lines(self, index: int) -> list[dict[str, Any]]:
        return [r for r in self.log_records(index) if r.get("msg") == "equivocation evidence"]

    # ------------------------------------------------------------------ API reads

    async def get(self, index: int, path: str) -> httpx.Response | None:
        """GET from node `index`'s API; None if it does not answer."""
        try:
            return await self._http.get(self.net.api_urls[index] + path)
        except httpx.HTTPError:
            return None

    async def status(self, index: int) -> dict[str, Any] | None:
        response = await self.get(index, "/status")
        if response is None or response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body

    async def height(self, index: int) -> int | None:
        """Node `index`'s last committed height, or None if it does not answer."""
        body = await self.status(index)
        return None if body is None else int(body["height"])

    async def heights(self, nodes: Sequence[int] | None = None) -> dict[int, int | None]:
        indices = list(range(self.net.size)) if nodes is None else list(nodes)
        found: dict[int, int | None] = {}

        async def one(i: int) -> None:
            found[i] = await self.height(i)

        async with trio.open_nursery() as nursery:
            for i in indices:
                nursery.start_soon(one, i)
        return {i: found[i] for i in indices}

    async def block_id(self, index: int, height: int) -> str | None:
        response = await self.get(index, f"/blocks/{height}")
        if response is None or response.status_code != 200:
            return None
        block = response.json()
        if block.get("height") != height:
            self.fail(f"node {index} answered /blocks/{height} with height {block.get('height')}")
        value: str = block["block_id"]
        return value

    async def evidence_count(self, index: int) -> int:
        """The equivocation evidence node `index` has seen since it (re)started."""
        response = await self.get(index, "/metrics")
        if response is None or response.status_code != 200:
            self.fail(f"node {index} serves no /metrics", [index])
        for line in response.text.splitlines():
            if line.startswith(EVIDENCE_METRIC + " "):
                return int(float(line.split()[1]))
        self.fail(f"node {index}'s /metrics has no {EVIDENCE_METRIC}", [index])

    # ------------------------------------------------------------------ waits and checks

    async def wait_until(
        self,
        check: Callable[[], Awaitable[bool]],
        what: str,
        *,
        nodes: Iterable[int] | None = None,
        deadline_s: float = DEADLINE_S,
    ) -> None:
        """Poll `check` until it is true; fail with `what` and log tails after `deadline_s`."""
        with trio.move_on_after(deadline_s):
            while not await check():
                await trio.sleep(POLL_S)
            return
        self.fail(f"timed out after {deadline_s:g} s waiting for {what}", nodes)

    async def wait_for_height(
        self, height: int, nodes: Sequence[int] | None = None, *, deadline_s: float = DEADLINE_S
    ) -> dict[int, int]:
        """Wait until every node in `nodes` (default: all) has committed `height`."""
        indices = list(range(self.net.size)) if nodes is None else list(nodes)
        last: dict[int, int | None] = {}

        async def reached() -> bool:
            last.update(await self.heights(indices))
            return all(h is not None and h >= height for h in last.values())

        await self.wait_until(
            reached,
            f"height {height} on nodes {indices} (last seen {last})",
            nodes=indices,
            deadline_s=deadline_s,
        )
        return {i: h for i, h in last.items() if h is not None}

    async def advance(
        self, by: int, nodes: Sequence[int] | None = None, *, deadline_s: float = DEADLINE_S
    ) -> dict[int, int]:
        """Wait until every node in `nodes` is `by` heights past the highest of them now."""
        indices = list(range(self.net.size)) if nodes is None else list(nodes)
        now = [h for h in (await self.heights(indices)).values() if h is not None]
        return await self.wait_for_height(max(now, default=0) + by, indices, deadline_s=deadline_s)

    async def assert_same_blocks(
        self,
        up_to: int,
        nodes: Sequence[int] | None = None,
        *,
        from_height: int = 1,
        deadline_s: float = DEADLINE_S,
    ) -> None:
        """Every node in `nodes` serves the same block id at each height `from_height`..`up_to`
        (they must all have committed `up_to` already)."""
        indices = list(range(self.net.size)) if nodes is None else list(nodes)
        heights = range(max(1, from_height), up_to + 1)
        ids: dict[int, list[str | None]] = {}

        async def fetch(i: int) -> None:
            ids[i] = [await self.block_id(i, h) for h in heights]

        with trio.move_on_after(deadline_s) as scope:
            async with trio.open_nursery() as nursery:
                for i in indices:
                    nursery.start_soon(fetch, i)
        if scope.cancelled_caught:
            self.fail(f"fetching blocks {heights} took over {deadline_s:g} s", indices)
        for k, h in enumerate(heights):
            seen = {i: ids[i][k] for i in indices}
            if None in seen.values() or len(set(seen.values())) != 1:
                self.fail(f"nodes disagree (or miss a block) at height {h}: {seen}", indices)

    async def assert_no_equivocation(self, nodes: Sequence[int] | None = None) -> None:
        """No node reports equivocation evidence, in its metrics or anywhere in its log."""
        indices = list(range(self.net.size)) if nodes is None else list(nodes)
        for i in indices:
            if self.net.is_running(i) and (count := await self.evidence_count(i)) != 0:
                self.fail(f"node {i} counts {count} equivocation evidence", [i])
            if lines := self.equivocation_lines(i):
                self.fail(f"node {i} logged equivocation evidence: {lines[:3]}", [i])


# ---------------------------------------------------------------------- lifecycle, off-loop


async def start(net: LocalNetwork, index: int) -> None:
    await trio.to_thread.run_sync(net.start, index)


async def start_all(net: LocalNetwork) -> None:
    await trio.to_thread.run_sync(net.start_all)


async def kill(net: LocalNetwork, index: int) -> int:
    status: int = await trio.to_thread.run_sync(net.kill, index)
    return status


async def stop(net: LocalNetwork, index: int) -> int:
    status: int = await trio.to_thread.run_sync(net.stop, index)
    return status


async def stop_all(net: LocalNetwork) -> None:
    await trio.to_thread.run_sync(net.stop_all)
