"""The load generator's pure parts: its spec, pre-signing, verdicts and the step summary."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import loadgen, procinfo
from consensus.crypto import Ed25519Signer
from ledger.tx import Transfer
from ledger.txcodec import decode_tx
from network.keys import write_key


def spec(**overrides: object) -> loadgen.StepSpec:
    values: dict[str, object] = {
        "api_urls": ["http://127.0.0.1:1"],
        "chain_id": "bench",
        "key_files": [],
        "rate": 10.0,
        "seconds": 2.0,
        "valid_for_heights": 500,
    }
    values.update(overrides)
    return loadgen.StepSpec.from_json(values)


def test_spec_from_json_refuses_unknown_missing_and_silly_fields() -> None:
    assert spec().api_urls == ("http://127.0.0.1:1",)
    with pytest.raises(ValueError, match="too short"):
        spec(valid_for_heights=20)
    with pytest.raises(ValueError, match="low <= high"):
        spec(heights_per_s_low=5.0, heights_per_s_high=2.0)
    with pytest.raises(ValueError, match="low <= high"):
        spec(heights_per_s_low=0.0, heights_per_s_high=2.0)
    with pytest.raises(ValueError, match="unknown"):
        spec(colour="blue")
    with pytest.raises(ValueError, match="bad step spec"):
        loadgen.StepSpec.from_json({"rate": 1.0})
    with pytest.raises(ValueError, match="positive"):
        spec(rate=0)


def test_presign_makes_the_steps_transfers_deterministically(tmp_path: Path) -> None:
    keys = []
    for name in ("a", "b", "c"):
        signer = Ed25519Signer(hashlib.blake2b(name.encode(), digest_size=32).digest())
        write_key(tmp_path / f"{name}.key", signer)
        keys.append(str(tmp_path / f"{name}.key"))
    s = spec(key_files=keys, seed=7)
    validity = loadgen.Validity(40, 400, s.rate, s.seconds, low=5.0, high=10.0)
    txs = loadgen.presign(s, validity)
    assert len(txs) == validity.count() >= 20
    assert txs == loadgen.presign(s, validity)
    assert len({tx_id for tx_id, _, _ in txs}) == len(txs)
    for index, (tx_id, wire, until) in enumerate(txs):
        decoded = decode_tx(wire).tx
        assert decoded.tx_id.hex() == tx_id
        assert decoded.chain_id == "bench"
        assert decoded.valid_until_height == until == validity.until(index)
        assert isinstance(decoded.body, Transfer)
        assert decoded.body.sender == decoded.signer != decoded.body.recipient
    # 400 heights: 5 kept below the top, 100 to commit in, a quarter of the rest as slack
    assert (validity.top, validity.margin, validity.usable, validity.behind) == (395, 100, 295, 73)
    assert [until for _, _, until in txs[:3]] == [40 + 395 - 73] * 2 + [40 + 395 - 73 + 1]
    assert len(loadgen.presign(s, validity, 3)) == 3
    tally = loadgen.Tally()  # no tx_id map: the uncommitted are named by decoding them
    tally.sent[txs[0][1]] = tally.sent[b"junk"] = 1.0
    sample = loadgen.summarise(s, tally, {})["uncommitted_sample"]
    assert sample == sorted([txs[0][0], b"junk".hex()])
    assert loadgen.sign_rate(s, validity) > 0


def send_all(
    validity: loadgen.Validity, chain_rate: Callable[[float], float], tick_s: float = 0.02
) -> tuple[int, int, float, list[str]]:
    """Run the sender's choice (`Pool.take`) against a simulated chain whose height rises at
    `chain_rate(t)` heights/s: (sent, skipped, seconds waited, what went wrong)."""
    count = validity.count()
    untils = [validity.until(i) for i in range(count)]
    pool = loadgen.Pool([i.to_bytes(4, "big") for i in range(count)], untils,
                        validity.margin, validity.top)  # fmt: skip
    target = round(validity.rate * validity.seconds)
    sent, waited, height, t, problems = 0, 0.0, float(validity.start_height), 0.0, []
    while sent < target and t < 2 * validity.seconds:
        due = min(target, int((t + tick_s) * validity.rate))
        if due > sent:
            chunk = pool.take(int(height), due - sent)
            if not chunk and pool.exhausted:
                problems.append(f"pool exhausted at {t:.0f} s")
                break
            if not chunk:
                waited += tick_s
            for wire in chunk:
                until = untils[int.from_bytes(wire, "big")]
                chain = int(height)
                if not chain + validity.margin <= until <= chain + validity.window:
                    problems.append(f"valid until {until} sent at height {chain}")
            sent += len(chunk)
        t += tick_s
        height += chain_rate(t) * tick_s
    return sent, pool.skipped, waited, problems


@pytest.mark.parametrize(
    "chain_rate",
    [
        lambda t: 6.0,  # at `low` throughout
        lambda t: 10.0,  # at `high` throughout
        lambda t: 8.0 + 2.0 * math.sin(t / 30),  # wandering between them
        lambda t: 12.0 if t < 20 else 6.0,  # fast at first (a lighter load before), then low
        lambda t: 0.0 if 100 < t < 103 else 7.0,  # a 3 s stall (a round change)
    ],
)
def test_every_transfer_is_sent_inside_its_validity_window(
    chain_rate: Callable[[float], float],
) -> None:
    validity = loadgen.Validity(1000, 400, 200.0, 600.0, low=6.0, high=10.0)
    sent, skipped, waited, problems = send_all(validity, chain_rate)
    assert problems == []
    assert sent == 200 * 600 and waited == 0.0
    assert skipped <= validity.count() - sent


def test_the_pool_is_sized_for_the_fastest_expected_chain() -> None:
    short = loadgen.Validity(0, 400, 1000.0, 20.0, low=5.0, high=10.0)
    tick = loadgen.BATCH_TICK_S
    # 200 heights in 20 s: the window's slack covers them
    assert short.count() == math.ceil(1000 * (20.0 + tick)) + 1
    soak = loadgen.Validity(0, 400, 1000.0, 600.0, low=6.0, high=10.0)
    # 10 x 600 heights, less the 222 the chain may gain on `low` before skips start, at 6/s
    assert soak.count() == math.ceil(1000 * ((6000 - 222) / 6 + tick)) + 1


def test_a_chain_outside_the_expected_rates_shows_as_waits_or_an_early_end() -> None:
    validity = loadgen.Validity(1000, 400, 200.0, 300.0, low=6.0, high=10.0)
    sent, _, waited, problems = send_all(validity, lambda t: 4.0)  # slower than `low`
    assert problems == [] and waited > 0  # nothing sent out of its window: the sender waited
    sent, _, waited, problems = send_all(validity, lambda t: 14.0)  # faster than `high`
    assert waited == 0 and sent < 200 * 300 and problems[-1].startswith("pool exhausted")
    assert len(problems) == 1


def test_pool_take_passes_over_expiring_transfers_and_waits_for_early_ones() -> None:
    pool = loadgen.Pool([b"a", b"b", b"c", b"d"], [10, 11, 30, 31], margin=5, top=20)
    assert pool.take(height=6, count=1) == [b"b"]  # a has 4 heights left: passed over
    assert pool.skipped == 1
    assert pool.take(height=6, count=5) == []  # c is valid from height 10 on
    assert pool.take(height=10, count=5) == [b"c"] and pool.take(11, 5) == [b"d"]
    assert pool.exhausted
    assert loadgen.Pool.unbounded([b"x", b"y"]).take(0, 5) == [b"x", b"y"]


def test_client_addresses_keep_each_below_the_api_rate_limit() -> None:
    assert loadgen.client_count(100, 4) == 1
    assert loadgen.client_count(401, 4) == 2
    assert loadgen.client_count(2000, 4) == 5


def test_verdicts() -> None:
    assert loadgen._verdict_code(202, {"accepted": True, "code": "OK"}) is None
    assert loadgen._verdict_code(200, {"accepted": False, "code": "ALREADY_IN_MEMPOOL"}) is None
    assert loadgen._verdict_code(503, {"accepted": False, "code": "MEMPOOL_FULL"}) == "MEMPOOL_FULL"
    assert loadgen._verdict_code(429, {"error": {}}) == "HTTP_429"


def test_committed_rate_runs_from_first_send_to_last_commit() -> None:
    tally = loadgen.Tally(
        latencies_s=[0.1, 0.2, 0.3, 0.4],
        block_times=[10.0, 11.0, 12.0],
        committed=30,
        submitted=31,
        first_send=9.0,  # first send to last commit: 3 s
        last_send=11.5,
    )
    tally.ids = {b"\xff": "ff", b"\xee": "ee"}  # signed bytes -> tx_id hex
    tally.sent[b"\xff"] = 11.5
    tally.sent[b"\xee"] = 11.5
    tally.reject(b"\xee", "MEMPOOL_FULL")
    out = loadgen.summarise(spec(rate=10.0, seconds=3.0), tally, {"extra": 1})
    assert out["committed_tps"] == pytest.approx(10.0)
    assert out["achieved_offered_tps"] == pytest.approx(31 / 2.5)
    assert out["uncommitted"] == 1 and out["uncommitted_sample"] == ["ff"]
    assert out["rejected"] == {"MEMPOOL_FULL": 1}
    assert (out["latency_p50_s"], out["latency_p99_s"], out["latency_max_s"]) == (0.2, 0.4, 0.4)
    assert out["extra"] == 1
    # sent over 10 s, nothing for 10 s more, then all in one burst: 100 over 20 s
    burst = loadgen.Tally(
        latencies_s=[10.0, 20.0], block_times=[20.0], committed=100, first_send=0.0, last_send=10.0
    )
    assert loadgen.summarise(spec(rate=10.0, seconds=10.0), burst, {})["committed_tps"] == 5.0
    one_block = loadgen.summarise(
        spec(seconds=3.0), loadgen.Tally(block_times=[5.0], committed=6), {}
    )
    assert one_block["committed_tps"] == 1.2  # 6 from first send (0 s) to last commit (5 s)
    assert one_block["latency_p99_s"] is None


def test_proc_parsing() -> None:
    stat = "123 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0"
    assert procinfo.parse_stat_cpu(stat) == 300.0
    assert procinfo.parse_rss("Name:\tx\nVmRSS:\t  2048 kB\n") == 2 * 1024 * 1024
    assert procinfo.parse_rss("Name:\tx\n") == 0
    assert procinfo.rss_bytes(__import__("os").getpid()) > 0
    status = (
        "Name:\tpython3\nVmPeak:\t  250000 kB\nVmRSS:\t  180224 kB\n"
        "RssAnon:\t   98304 kB\nRssFile:\t   81920 kB\nRssShmem:\t       0 kB\n"
        "VmData:\t  120000 kB\nThreads:\t5\n"
    )
    assert procinfo.parse_memory(status) == {
        "VmRSS": 176 * 2**20,
        "RssAnon": 96 * 2**20,
        "RssFile": 80 * 2**20,
        "RssShmem": 0,
    }
    assert procinfo.parse_memory("Name:\tx\nVmRSS:\t  4 kB\n")["RssAnon"] == 0
    with pytest.raises(ValueError, match="unit"):
        procinfo.parse_memory("RssAnon:\t  4 MB\n")
    mine = procinfo.memory(__import__("os").getpid())
    assert mine["RssAnon"] > 0 and mine["VmRSS"] >= mine["RssAnon"]
    assert procinfo.file_size(Path("/nonexistent/data.mdb")) == (0, 0)
    with pytest.raises(LookupError):
        procinfo.node_pid(Path("/nonexistent/node.toml"))


def test_a_step_is_retried_only_when_the_chain_left_the_expected_rate() -> None:
    from bench.harness import needs_retry

    assert not needs_retry({"waited_for_chain_s": 0.1, "pool_exhausted": False}, 20.0)
    assert needs_retry({"waited_for_chain_s": 0.5, "pool_exhausted": False}, 20.0)
    assert needs_retry({"waited_for_chain_s": 0.0, "pool_exhausted": True}, 20.0)
    assert not needs_retry({}, 20.0)
