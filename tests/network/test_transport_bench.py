"""bench/transport_throughput.py: tiny real transfers between two PeerManagers on 127.0.0.1.

No timing thresholds: the tests check that every payload arrived intact and in order, that the
figures are positive and consistent with each other and with the bytes on the wire, and that
failures (a wrong payload, a timeout) are errors. Async tests run under pytest-trio's trio_mode
(pyproject.toml), like the other tests here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from bench import transport_throughput as bench
from bench.transport_throughput import TransferError, measure

FRAME_OVERHEAD = 4 + 16  # length prefix + Poly1305 tag: an empty keepalive frame is this long


async def test_real_transfers_arrive_intact_and_in_order_with_consistent_figures() -> None:
    with trio.fail_after(60):
        results = await measure([100, 20_000], messages=200, repeat=2, timeout_s=30)
    assert [r.size for r in results] == [100, 20_000]
    for r in results:
        assert r.messages == 200 and r.received == 200
        assert len(r.runs) == 2 and all(run.received == 200 for run in r.runs)
        assert all(run.wall_s > 0 and run.cpu_s > 0 for run in r.runs)
        assert r.messages_per_s == pytest.approx(200 / r.best_wall_s)
        assert r.mb_per_s == pytest.approx(r.messages_per_s * r.size / 1e6)
        assert r.cpu_us_per_message == pytest.approx(min(x.cpu_s for x in r.runs) / 200 * 1e6)
        assert r.cpu_us_per_message > 0
        for run in r.runs:
            # Each payload sealed and framed exactly once; anything else is empty keepalives.
            extra = run.wire_bytes - 200 * (r.size + FRAME_OVERHEAD)
            assert extra >= 0 and extra % FRAME_OVERHEAD == 0


async def test_the_check_refuses_a_reordered_corrupted_or_foreign_payload() -> None:
    ring = bench.payload_ring(100, 4)
    assert len({p[: bench.INDEX_BYTES] for p in ring}) == 4 and {len(p) for p in ring} == {100}
    sender, stranger = b"s" * 32, b"x" * 32
    corrupted = ring[1][:50] + bytes([ring[1][50] ^ 1]) + ring[1][51:]
    cases = [
        ([(sender, ring[0]), (sender, ring[2])], "payload 1 of 3 is wrong"),
        ([(sender, ring[0]), (sender, corrupted)], "payload 1 of 3 is wrong"),
        ([(stranger, ring[0])], "payload 0 came from"),
    ]
    for items, message in cases:
        send, receive = trio.open_memory_channel[tuple[bytes, bytes]](8)
        for item in items:
            send.send_nowait(item)
        progress = bench.Progress()
        with pytest.raises(TransferError, match=message), trio.fail_after(5):
            await bench.check_payloads(receive, sender, ring, 3, progress)
        assert progress.received == len(items) - 1


async def test_a_transfer_that_does_not_finish_in_time_is_an_error() -> None:
    with pytest.raises(TransferError, match="timed out after 0 s: 0 of 10"), trio.fail_after(30):
        await measure([100], messages=10, repeat=1, timeout_s=0)


def test_large_sizes_are_capped_by_bytes_per_transfer() -> None:
    assert bench.messages_for(100, 5000, 100_000_000) == 5000
    assert bench.messages_for(200_000, 5000, 100_000_000) == 500
    assert bench.messages_for(200_000, 5000, None) == 5000
    assert bench.messages_for(10**7, 5, 1000) == 1


def test_the_inbound_channel_is_the_nodes_size() -> None:
    from network.node import INBOUND_QUEUE_FRAMES

    assert bench.INBOUND_QUEUE_FRAMES == INBOUND_QUEUE_FRAMES


def test_cli_prints_a_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "transport.json"
    args = ["--messages", "50", "--sizes", "100,2000", "--repeat", "1", "--json", str(path)]
    assert bench.main(args) == 0
    out = capsys.readouterr().out
    assert "messages/s" in out and "100 B" in out and "2 KB" in out
    document = json.loads(path.read_text())
    assert [r["size_bytes"] for r in document["results"]] == [100, 2000]
    for r in document["results"]:
        assert r["messages"] == r["received_in_order"] == 50
        assert r["mb_per_s"] == pytest.approx(r["messages_per_s"] * r["size_bytes"] / 1e6)


def test_cli_exits_non_zero_with_a_clear_error_when_the_transfer_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def failing(*args: object) -> list[bench.SizeResult]:
        raise TransferError("connection to 0123456789ab dropped after 3 of 50")

    monkeypatch.setattr(bench, "measure", failing)
    assert bench.main(["--messages", "50", "--sizes", "100"]) == 1
    assert "transport benchmark failed: connection to 0123456789ab dropped" in (
        capsys.readouterr().err
    )
