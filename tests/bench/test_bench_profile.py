"""Sorting py-spy samples into CPU categories (the innermost recognised frame decides)."""

from __future__ import annotations

import pytest

from bench.profile_validator import (
    CATEGORIES,
    breakdown,
    classify_stack,
    cpu_table,
    parse_raw,
    top_unclassified,
    vote_verifications_per_height,
)

ROOT = "run (trio/_core/_run.py:2300)"
API = "submit_tx (network/api.py:120)"


@pytest.mark.parametrize(
    ("frames", "category"),
    [
        ([ROOT, API, "check_tx (ledger/app.py:130)", "verify (consensus/crypto.py:27)"],
         "signature checks"),
        ([ROOT, API, "check_tx (ledger/app.py:130)", "crypto_sign_open (nacl/bindings/x.py:1)"],
         "signature checks"),
        ([ROOT, API, "dumps (json/__init__.py:231)"], "HTTP API"),
        ([ROOT, API, "decode_tx (ledger/txcodec.py:215)"], "decoding"),
        ([ROOT, "save_height (ledger/store_lmdb.py:80)"], "store commit"),
        # a used-id lookup reads LMDB and decodes, but counts as the index, from the API ...
        ([ROOT, API, "admit (ledger/app.py:130)", "get (ledger/used_ids.py:72)",
          "load_tx_index (ledger/store_lmdb.py:178)", "_get (ledger/store_lmdb.py:230)"],
         "used-id index"),
        # ... and at execution
        ([ROOT, "execute_block (ledger/app.py:180)", "get (ledger/used_ids.py:72)",
          "decode (ledger/used_ids.py:45)", "unpack (ledger/layout.py:80)"], "used-id index"),
        ([ROOT, "execute_block (ledger/app.py:180)"], "execution"),
        ([ROOT, "handle (consensus/replica/replica.py:50)", "on_vote (consensus/core.py:9)"],
         "consensus"),
        ([ROOT, "handle (consensus/replica/replica.py:50)", "push (consensus/replica/gossip.py:3)"],
         "gossip"),
        ([ROOT, "send (network/channel.py:70)", "encrypt (cryptography/ciphers/aead.py:1)"],
         "gossip"),
        ([ROOT, "get_events (trio/_core/_io_epoll.py:243)"], "event loop"),
        (["mystery (somewhere/else.py:1)"], "other"),
        ([], "other"),
    ],
)  # fmt: skip
def test_the_innermost_recognised_frame_names_the_category(
    frames: list[str], category: str
) -> None:
    assert classify_stack(frames) == category


def test_parse_raw_reads_counts_and_skips_garbage() -> None:
    lines = [
        "a (x.py:1);b (y.py:2) 5\n",
        "no count here\n",
        "\n",
        "c (z.py:3) 7",
        "bad count x",
    ]
    assert parse_raw(lines) == [(["a (x.py:1)", "b (y.py:2)"], 5), (["c (z.py:3)"], 7)]


def test_breakdown_is_fractions_of_all_samples() -> None:
    samples = [
        ([ROOT, "verify (consensus/crypto.py:27)"], 3),
        ([ROOT, "save_height (ledger/store_lmdb.py:80)"], 1),
    ]
    fractions = breakdown(samples)
    assert list(fractions) == list(CATEGORIES)
    assert fractions["signature checks"] == 0.75
    assert fractions["store commit"] == 0.25
    assert sum(fractions.values()) == pytest.approx(1.0)
    assert set(breakdown([]).values()) == {0.0}


def test_top_unclassified_ranks_the_leaves_of_other_stacks() -> None:
    samples = [
        (["a (p.py:1)", "leaf1 (q.py:2)"], 3),
        (["leaf2 (r.py:3)"], 1),
        ([ROOT, "verify (consensus/crypto.py:27)"], 4),
    ]
    assert top_unclassified(samples) == [["leaf1 (q.py:2)", 0.375], ["leaf2 (r.py:3)", 0.125]]


def test_cpu_table_gives_signature_checks_the_verify_rate_figure() -> None:
    shares = {"signature checks": 0.1, "decoding": 0.3, "execution": 0.6}
    table = cpu_table(shares, 500e-6, 10_000.0, validators=4, heights=100, committed=14_000)
    assert vote_verifications_per_height(4) == 7
    assert table["vote_verifications_per_transfer"] == pytest.approx(0.05)  # 7 x 100 / 14,000
    assert table["signature_estimate_us"] == pytest.approx(105.0)  # 1.05 x 100 us
    assert table["rest_us"] == pytest.approx(395.0)
    us = {row["category"]: row["us"] for row in table["rows"]}
    assert list(us) == list(CATEGORIES)
    assert us["signature checks"] == pytest.approx(105.0 + 0.1 * 395)  # + the Python wrapper
    assert us["decoding"] == pytest.approx(0.3 * 395)
    assert us["execution"] == pytest.approx(0.6 * 395)
    assert us["gossip"] == 0.0
    assert sum(us.values()) == pytest.approx(500.0)
    assert sum(row["cpu_share"] for row in table["rows"]) == pytest.approx(1.0)
    gil = {row["category"]: row["gil_share"] for row in table["rows"]}
    assert gil["decoding"] == 0.3  # the raw GIL-held share is kept


def test_cpu_table_without_heights_counts_one_verification_and_caps_at_the_total() -> None:
    table = cpu_table({"other": 1.0}, 300e-6, 10_000.0, validators=4, heights=None, committed=10)
    assert table["vote_verifications_per_transfer"] is None
    assert table["verifications_per_transfer"] == 1.0
    assert sum(row["us"] for row in table["rows"]) == pytest.approx(300.0)
    small = cpu_table({"other": 1.0}, 50e-6, 10_000.0, validators=4, heights=None, committed=10)
    us = {row["category"]: row["us"] for row in small["rows"]}
    assert small["signature_estimate_capped"] and us["signature checks"] == pytest.approx(50.0)
    assert sum(us.values()) == pytest.approx(50.0)
    empty = cpu_table({}, 200e-6, 10_000.0, validators=4, heights=10, committed=0)
    assert sum(row["us"] for row in empty["rows"]) == pytest.approx(200.0)
