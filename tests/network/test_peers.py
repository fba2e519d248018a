"""PeerManager over real TCP on 127.0.0.1 (ephemeral ports), every wait guarded by fail_after."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from functools import partial

import attrs
import pytest
import trio

from consensus.crypto import Ed25519Signer
from network.addresses import PeerAddress
from network.channel import SecureChannel
from network.handshake import perform_handshake
from network.peers import PeerManager

CHAIN = "depositnet-test"
HOST = "127.0.0.1"
SIGNERS = sorted((Ed25519Signer(bytes([i + 1]) * 32) for i in range(4)), key=lambda s: s.public_key)
KEYS = [s.public_key for s in SIGNERS]
STRANGER = Ed25519Signer(b"\x99" * 32)
FAST = {"redial_base_s": 0.02, "redial_cap_s": 0.2, "handshake_timeout_s": 5.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@attrs.define
class Node:
    """A PeerManager under test with its inbound channel and a log of connect/disconnect."""

    manager: PeerManager
    inbox: trio.MemoryReceiveChannel[tuple[bytes, bytes]]
    events: list[tuple[str, bytes]]
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)

    async def receive(self) -> tuple[bytes, bytes]:
        with trio.fail_after(60):
            return await self.inbox.receive()


def make_node(
    index: int, port: int, peers: list[PeerAddress], seed: int = 0, **options: object
) -> Node:
    send, receive = trio.open_memory_channel[tuple[bytes, bytes]](64)
    events: list[tuple[str, bytes]] = []
    manager = PeerManager(
        node_key=SIGNERS[index],
        chain_id=CHAIN,
        listen_host=HOST,
        listen_port=port,
        peers=peers,
        is_allowed=lambda key: key in KEYS,
        inbound=send,
        rng=random.Random(seed),
        on_connect=lambda key: events.append(("connect", key)),
        on_disconnect=lambda key: events.append(("disconnect", key)),
        **{**FAST, **options},  # type: ignore[arg-type]
    )
    return Node(manager, receive, events)


async def start(nursery: trio.Nursery, node: Node) -> int:
    async def run(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        with node.scope:
            await node.manager.run(task_status=task_status)

    port: int = await nursery.start(run)
    return port


async def eventually(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    with trio.fail_after(timeout_s):
        while not condition():
            await trio.sleep(0.01)


def assert_alternating(events: list[tuple[str, bytes]]) -> None:
    for key in {k for _, k in events}:
        kinds = [kind for kind, k in events if k == key]
        assert kinds == ["connect", "disconnect"] * (len(kinds) // 2) + ["connect"] * (
            len(kinds) % 2
        )


def settled(nodes: list[Node]) -> bool:
    """Full mesh, no dial or handshake under way, and both ends of each pair on one socket.

    After this no connection can start (dial loops wait for a disconnection), so payloads
    queued now are not lost to a duplicate being replaced.
    """
    for i, node in enumerate(nodes):
        stats = node.manager.statistics()
        if stats.handshakes_in_progress or len(stats.connected_peers) != len(nodes) - 1:
            return False
        for j, other in enumerate(nodes):
            if i == j:
                continue
            mine = node.manager._live.get(KEYS[j])
            theirs = other.manager._live.get(KEYS[i])
            if mine is None or theirs is None or mine.dialer != theirs.dialer:
                return False
            sock_mine = mine.channel._stream.socket  # type: ignore[attr-defined]
            sock_theirs = theirs.channel._stream.socket  # type: ignore[attr-defined]
            if sock_mine.getsockname() != sock_theirs.getpeername():
                return False
    return True


def mesh(count: int) -> tuple[list[int], list[list[PeerAddress]]]:
    ports = [free_port() for _ in range(count)]
    peers = [
        [PeerAddress(HOST, ports[j], KEYS[j]) for j in range(count) if j != i] for i in range(count)
    ]
    return ports, peers


async def exchange(nodes: list[Node], tag: bytes) -> None:
    """Every node sends one payload to every other; each must receive exactly those."""
    for i, node in enumerate(nodes):
        for j in range(len(nodes)):
            if i != j:
                assert node.manager.send_nowait(KEYS[j], tag + bytes([i, j]))
    for j, node in enumerate(nodes):
        got = sorted([await node.receive() for _ in range(len(nodes) - 1)])
        assert got == sorted((KEYS[i], tag + bytes([i, j])) for i in range(len(nodes)) if i != j)


async def test_three_nodes_form_a_mesh_exchange_and_redial_a_restarted_node() -> None:
    ports, peers = mesh(3)
    nodes = [make_node(i, ports[i], peers[i], seed=i) for i in range(3)]
    async with trio.open_nursery() as nursery:
        for node in nodes:
            await start(nursery, node)
        await eventually(lambda: settled(nodes))
        await exchange(nodes, b"first")

        nodes[2].scope.cancel()
        await eventually(lambda: all(KEYS[2] not in n.manager.connected_peers() for n in nodes[:2]))
        assert ("disconnect", KEYS[2]) in nodes[0].events

        nodes[2] = make_node(2, ports[2], peers[2], seed=7)
        await start(nursery, nodes[2])
        await eventually(lambda: settled(nodes))
        await exchange(nodes, b"again")

        stats = nodes[0].manager.statistics()
        assert stats.connected_peers == tuple(sorted([KEYS[1], KEYS[2]]))
        assert stats.frames_in >= 4 and stats.frames_out >= 4 and stats.bytes_out > 0
        assert stats.connections_dropped >= 1
        for node in nodes:
            assert_alternating(node.events)
        nursery.cancel_scope.cancel()


async def test_simultaneous_dials_settle_to_one_agreed_connection_per_pair() -> None:
    ports, peers = mesh(3)
    nodes = [make_node(i, ports[i], peers[i], seed=i) for i in range(3)]
    async with trio.open_nursery() as nursery:
        for node in nodes:
            await start(nursery, node)
        # Every node dialed every other at once: each pair must agree on one socket.
        await eventually(lambda: settled(nodes))
        await exchange(nodes, b"once")
        for node in nodes:
            assert_alternating(node.events)
        nursery.cancel_scope.cancel()


async def next_payload(channel: SecureChannel) -> bytes | None:
    """The next non-keepalive payload from a bare channel, or None at close."""
    with trio.fail_after(60):
        while (payload := await channel.receive()) == b"":
            pass
    return payload


@pytest.mark.parametrize("manager_key_is_lower", [True, False])
async def test_duplicate_tie_break_keeps_the_connection_dialed_by_the_lower_key(
    manager_key_is_lower: bool,
) -> None:
    me, other = (0, 1) if manager_key_is_lower else (1, 0)
    accepted: list[SecureChannel] = []
    handshaken = trio.Event()

    async def serve_as_other(stream: trio.SocketStream) -> None:
        channel = await perform_handshake(
            stream,
            node_key=SIGNERS[other],
            chain_id=CHAIN,
            initiator=False,
            is_allowed=lambda key: key == KEYS[me],
        )
        accepted.append(channel)
        handshaken.set()
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, serve_as_other, 0, host=HOST))
        other_port = listeners[0].socket.getsockname()[1]
        node = make_node(me, 0, [PeerAddress(HOST, other_port, KEYS[other])])
        my_port = await start(nursery, node)
        with trio.fail_after(60):
            await handshaken.wait()  # the manager's own dial is now live
        await eventually(lambda: node.manager.connected_peers() == (KEYS[other],))

        # Now "other" dials the manager too: a duplicate dialed by the other key.
        stream = await trio.open_tcp_stream(HOST, my_port)
        inbound = await perform_handshake(
            stream,
            node_key=SIGNERS[other],
            chain_id=CHAIN,
            initiator=True,
            is_allowed=lambda key: key == KEYS[me],
        )
        with trio.fail_after(60):
            if manager_key_is_lower:
                assert await next_payload(inbound) is None  # ours was kept; theirs closed
                assert node.manager._live[KEYS[other]].dialer == KEYS[me]
            else:
                assert await next_payload(accepted[0]) is None  # ours was replaced by theirs
                await eventually(lambda: node.manager._live[KEYS[other]].dialer == KEYS[other])
                await inbound.send(b"via the kept connection")
                assert await node.receive() == (KEYS[other], b"via the kept connection")
        assert node.manager.statistics().duplicates_dropped == 1
        nursery.cancel_scope.cancel()
