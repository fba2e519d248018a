"""The load generator's pure parts: its spec, pre-signing in chain time, verdicts and the step
summary."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import loadgen, procinfo
from consensus.crypto import Ed25519Signer
from ledger.genesis import MAX_VALIDITY_WINDOW_MS, MIN_VALIDITY_WINDOW_MS
from ledger.tx import Transfer, derive_tx_id
from ledger.txcodec import decode_tx
from ledger.validation import StaticRejection, check_window
from network.keys import write_key


def spec(**overrides: object) -> loadgen.StepSpec:
    values: dict[str, object] = {
        "api_urls": ["http://127.0.0.1:1"],
        "chain_id": "bench",
        "key_files": [],
        "rate": 10.0,
        "seconds": 2.0,
        "validity_window_ms": 600_000,
    }
    values.update(overrides)
    return loadgen.StepSpec.from_json(values)


def key_files(tmp_path: Path, names: str = "abc") -> list[str]:
    out = []
    for name in names:
        signer = Ed25519Signer(hashlib.blake2b(name.encode(), digest_size=32).digest())
        write_key(tmp_path / f"{name}.key", signer)
        out.append(str(tmp_path / f"{name}.key"))
    return out


def test_spec_from_json_refuses_unknown_missing_and_silly_fields() -> None:
    assert spec().api_urls == ("http://127.0.0.1:1",)
    assert spec(currencies=["USD"]).currencies == ("USD",)
    with pytest.raises(ValueError, match="validity_window_ms"):
        spec(validity_window_ms=59_999)  # below the chain's minimum
    with pytest.raises(ValueError, match="validity_window_ms"):
        spec(validity_window_ms=7 * 86_400_000 + 1)
    with pytest.raises(ValueError, match="validity_window_ms"):
        spec(validity_window_ms=600_000.0)
    with pytest.raises(ValueError, match="do not fit in a validity window of 60 s"):
        spec(validity_window_ms=60_000, seconds=50.0, drain_s=10.0)
    assert spec(validity_window_ms=60_000, seconds=49.0, drain_s=10.0).seconds == 49.0
    with pytest.raises(ValueError, match="currency"):
        spec(currencies=[])
    for bad in ({"rate": float("inf")}, {"seconds": float("nan")}, {"drain_s": float("nan")},
                {"rate": "10"}):  # fmt: skip
        with pytest.raises(ValueError, match="finite numbers"):
            spec(**bad)
    with pytest.raises(ValueError, match="drain_s >= 0"):
        spec(drain_s=-1.0)
    with pytest.raises(ValueError, match="unknown"):
        spec(colour="blue")
    with pytest.raises(ValueError, match="bad step spec"):
        loadgen.StepSpec.from_json({"rate": 1.0})
    with pytest.raises(ValueError, match="positive"):
        spec(rate=0)


def test_presign_makes_the_steps_transfers_deterministically(tmp_path: Path) -> None:
    s = spec(key_files=key_files(tmp_path), seed=7, currencies=["USD", "EUR"])
    txs = loadgen.presign(s, valid_until_ms=1_234_567)
    assert len(txs) == loadgen.transfer_count(s) == 20
    assert txs == loadgen.presign(s, 1_234_567)
    assert txs != loadgen.presign(attrs.evolve(s, seed=8), 1_234_567)
    decoded = [decode_tx(wire).tx for wire in txs]
    assert len({tx.tx_id for tx in decoded}) == len(txs)
    for tx in decoded:
        assert tx.tx_id == derive_tx_id(tx.signer, tx.nonce)  # ids come from key and nonce
        assert tx.chain_id == "bench" and tx.valid_until_ms == 1_234_567
        assert isinstance(tx.body, Transfer)
        assert tx.body.sender == tx.signer != tx.body.recipient
        assert tx.body.currency in ("USD", "EUR") and 1 <= tx.body.amount <= 999
    assert {tx.body.currency for tx in decoded} == {"USD", "EUR"}  # type: ignore[union-attr]
    assert len(loadgen.presign(s, 1, 3)) == 3
    tally = loadgen.Tally()  # no tx_id map: the uncommitted are named by decoding them
    tally.sent[txs[0]] = tally.sent[b"junk"] = 1.0
    sample = loadgen.summarise(s, tally, {})["uncommitted_sample"]
    assert sample == sorted([decoded[0].tx_id.hex(), b"junk".hex()])


@settings(max_examples=40, deadline=None)
@given(
    chain_ms=st.integers(0, 2**40),
    window_ms=st.integers(MIN_VALIDITY_WINDOW_MS, MAX_VALIDITY_WINDOW_MS),
    later=st.floats(0.0, 1.0),
)
def test_a_transfer_signed_at_the_chains_time_is_valid_for_the_whole_window(
    tmp_path_factory: pytest.TempPathFactory, chain_ms: int, window_ms: int, later: float
) -> None:
    """The ledger's own window check accepts the transfer at any block time from the chain's
    time at signing to the end of the window, and refuses it as expired just after."""
    keys = key_files(tmp_path_factory.mktemp("keys"), "ab")
    s = spec(key_files=keys, validity_window_ms=window_ms, seconds=1.0, drain_s=0.0)
    (wire,) = loadgen.presign(s, chain_ms + window_ms, 1)
    dtx = decode_tx(wire)
    time_ms = chain_ms + int(later * window_ms)  # chain time only rises
    check_window(dtx, time_ms, window_ms)
    with pytest.raises(StaticRejection) as refused:
        check_window(dtx, chain_ms + window_ms + 1, window_ms)
    assert refused.value.code.value == "EXPIRED"


def test_the_step_must_fit_in_what_signing_left_of_the_window() -> None:
    s = spec(validity_window_ms=120_000, seconds=60.0, drain_s=15.0)
    assert loadgen.check_time_left(s, 10.0) == 110.0
    assert loadgen.check_time_left(s, 45.0) == 75.0  # just fits
    with pytest.raises(loadgen.StepError, match="signing took 46 s of the chain's validity"):
        loadgen.check_time_left(s, 46.0)


def test_sends_record_the_longest_pause_and_the_heights() -> None:
    tally = loadgen.Tally(height=10)
    tally.record_send([b"a", b"b"], at=100.0)
    tally.height = 12
    tally.record_send([b"c"], at=100.05)
    tally.record_send([b"d"], at=101.35)  # a 1.3 s pause
    tally.height = 15
    tally.record_send([b"e"], at=101.4)
    assert (tally.first_send, tally.last_send, tally.submitted) == (100.0, 101.4, 5)
    assert tally.max_send_gap_s == pytest.approx(1.3)
    assert (tally.first_height, tally.last_height) == (10, 15)
    assert list(tally.sent) == [b"a", b"b", b"c", b"d", b"e"]
    out = loadgen.summarise(spec(), tally, {})
    assert out["max_send_gap_s"] == pytest.approx(1.3)
    assert out["heights_per_s"] == pytest.approx(5 / 1.4)
    assert out["send_heights"] == [10, 15]


def test_a_bad_spec_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"rate": 1.0}))
    assert loadgen.main(["--spec", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("loadgen: error: bad step spec") and err.count("\n") == 1
    assert loadgen.main(["--spec", str(tmp_path / "missing.json")]) == 2


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
