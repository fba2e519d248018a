"""The load generator's pure parts: its spec, pre-signing, verdicts and the step summary."""

from __future__ import annotations

import hashlib
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
    txs = loadgen.presign(s, start_height=40)
    assert len(txs) == 20
    assert txs == loadgen.presign(s, start_height=40)
    assert len({tx_id for tx_id, _ in txs}) == 20
    for tx_id, wire in txs:
        decoded = decode_tx(wire).tx
        assert decoded.tx_id.hex() == tx_id
        assert decoded.chain_id == "bench"
        assert decoded.valid_until_height == 540
        assert isinstance(decoded.body, Transfer)
        assert decoded.body.sender == decoded.signer != decoded.body.recipient


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
    with pytest.raises(LookupError):
        procinfo.node_pid(Path("/nonexistent/node.toml"))
