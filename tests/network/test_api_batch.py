"""POST /txs/batch: many transactions in one request, one verdict each, in order, as JSON (hex
or base64 strings) or as msgpack (an array of bin)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import msgpack
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.tx import RegisterParticipant
from network.api import decode_msgpack_batch, is_msgpack
from network.api_limits import ApiLimits
from network.api_models import MAX_BATCH_TXS
from network.api_params import ApiError
from network.client import DepositClient
from tests.network.apifake import ALICE, BOB, COMPLIANCE, FakeChain, FakeNode, serve_node, signed


@pytest.fixture
async def api(nursery: trio.Nursery) -> AsyncIterator[tuple[FakeChain, httpx.AsyncClient]]:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain))
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield chain, client


def alice_broken_bob() -> tuple[bytes, bytes, bytes]:
    """Two valid registrations and the second with its signature's last bit flipped."""
    alice = signed(COMPLIANCE, RegisterParticipant(ALICE.public_key, "alice", 10_000))
    bob = signed(COMPLIANCE, RegisterParticipant(BOB.public_key, "bob", 10_000))
    broken = bytearray(bob)
    broken[-1] ^= 1
    return alice, bob, bytes(broken)


async def test_a_batch_gets_one_verdict_per_tx_in_order(
    api: tuple[FakeChain, httpx.AsyncClient],
) -> None:
    chain, client = api
    alice, bob, broken = alice_broken_bob()
    response = await client.post(
        "/txs/batch", json={"txs": [alice.hex(), broken.hex(), alice.hex(), bob.hex()]}
    )
    assert response.status_code == 200
    codes = [(r["accepted"], r["code"]) for r in response.json()["results"]]
    assert codes == [
        (True, "OK"),
        (False, "BAD_SIGNATURE"),
        (False, "ALREADY_IN_MEMPOOL"),
        (True, "OK"),
    ]
    chain.commit()
    status = await client.get(f"/txs/{response.json()['results'][3]['tx_id']}")
    assert status.json()["state"] == "committed"


@pytest.mark.parametrize(
    "body",
    [
        {"txs": []},
        {"txs": ["zz"]},
        {"txs": "00"},
        {"txs": ["00"], "extra": 1},
        {"txs": ["00"] * (MAX_BATCH_TXS + 1)},
    ],
)
async def test_malformed_batches_are_refused_whole_with_400(
    api: tuple[FakeChain, httpx.AsyncClient], body: object
) -> None:
    chain, client = api
    response = await client.post("/txs/batch", json=body)
    assert response.status_code == 400
    assert "code" in response.json()["error"]
    assert len(chain.mempool) == 0


async def test_the_sdk_submits_a_batch(api: tuple[FakeChain, httpx.AsyncClient]) -> None:
    chain, client = api
    alice = signed(COMPLIANCE, RegisterParticipant(ALICE.public_key, "alice", 10_000))
    async with DepositClient([str(client.base_url)], chain.genesis) as sdk:
        first, again = await sdk.submit_batch([alice, alice])
    assert (first.accepted, first.code) == (True, "OK")
    assert again.known and not again.accepted


MSGPACK = {"content-type": "application/msgpack"}


async def post_msgpack(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post("/txs/batch", content=body, headers=MSGPACK)


async def test_a_msgpack_batch_gets_the_same_verdicts_as_json(
    api: tuple[FakeChain, httpx.AsyncClient],
) -> None:
    chain, client = api
    alice, bob, broken = alice_broken_bob()
    response = await post_msgpack(client, msgpack.packb([alice, broken, alice, bob]))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    results = response.json()["results"]
    assert [(r["accepted"], r["code"]) for r in results] == [
        (True, "OK"),
        (False, "BAD_SIGNATURE"),
        (False, "ALREADY_IN_MEMPOOL"),
        (True, "OK"),
    ]
    assert set(results[0]) == {"tx_id", "accepted", "code", "message", "committed"}
    assert len(chain.mempool) == 2
    # the same transactions again, as JSON then as msgpack with parameters: known, not re-added
    as_json = await client.post("/txs/batch", json={"txs": [alice.hex(), bob.hex()]})
    as_msgpack = await client.post(
        "/txs/batch",
        content=msgpack.packb([alice, bob]),
        headers={"content-type": "Application/MsgPack; charset=binary"},
    )
    assert as_json.json() == as_msgpack.json()
    assert [r["code"] for r in as_msgpack.json()["results"]] == ["ALREADY_IN_MEMPOOL"] * 2
    chain.commit()
    committed = await post_msgpack(client, msgpack.packb([bob]))
    assert committed.status_code == 200
    assert committed.json()["results"][0]["code"] == "ALREADY_COMMITTED"
    assert committed.json()["results"][0]["committed"]["height"] == 1  # with its receipt
    assert len(chain.mempool) == 0


TX = signed(COMPLIANCE, RegisterParticipant(ALICE.public_key, "alice", 10_000))


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty or truncated"),
        (b"\xc1", "array of bin"),  # never used in msgpack
        (msgpack.packb({"txs": [TX]}), "array of bin"),
        (msgpack.packb(TX), "array of bin"),
        (msgpack.packb([]), "1 to 500"),
        (msgpack.packb([TX] * (MAX_BATCH_TXS + 1)), "not 501"),
        (msgpack.packb([TX, TX.hex()]), "txs.1: expected bin"),
        (msgpack.packb([TX, 7]), "txs.1: expected bin"),
        (msgpack.packb([[TX]]), "txs.0: expected bin"),
        (msgpack.packb([TX, b""]), "txs.1: tx is empty"),
        (msgpack.packb([TX]) + b"\x00", "trailing bytes"),
        (msgpack.packb([TX, TX])[:-5], "truncated"),
        (b"\x91" + b"\x91" * 5000 + b"\xc0", "malformed msgpack at transaction 0"),
        (b"\x91\xd6\xff\x00\x00\x00\x00", "got Timestamp"),
    ],
)
async def test_malformed_msgpack_batches_are_refused_whole_with_400(
    api: tuple[FakeChain, httpx.AsyncClient], body: bytes, says: str
) -> None:
    chain, client = api
    response = await post_msgpack(client, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BAD_REQUEST" and says in error["message"], error
    assert len(chain.mempool) == 0


async def test_a_msgpack_batch_meets_the_body_and_rate_limits(nursery: trio.Nursery) -> None:
    limits = ApiLimits(max_body_bytes=1000, rate_per_s=0.001, burst=2)
    url = await serve_node(nursery, FakeNode(FakeChain()), limits=limits)
    async with httpx.AsyncClient(base_url=url) as client:
        big = await post_msgpack(client, msgpack.packb([TX] * 10))
        assert big.status_code == 413 and big.json()["error"]["code"] == "BODY_TOO_LARGE"
        assert (await post_msgpack(client, msgpack.packb([TX]))).status_code == 200
        limited = await post_msgpack(client, msgpack.packb([TX]))
        assert limited.status_code == 429 and "retry-after" in limited.headers


def test_msgpack_content_types() -> None:
    assert is_msgpack("application/msgpack") and is_msgpack("application/x-msgpack")
    assert is_msgpack(" APPLICATION/MSGPACK ; q=1")
    assert not is_msgpack(None) and not is_msgpack("application/json")
    assert not is_msgpack("application/msgpack-ish")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), st.builds(bytes.__add__, st.just(b"\x92"), st.binary())))
def test_any_bytes_either_decode_to_a_batch_or_get_a_400(body: bytes) -> None:
    try:
        txs = decode_msgpack_batch(body)
    except ApiError as exc:
        assert exc.status == 400 and exc.code == "BAD_REQUEST" and exc.message
        return
    assert msgpack.unpackb(body) == txs and 1 <= len(txs) <= MAX_BATCH_TXS
    assert all(type(tx) is bytes and tx for tx in txs)


@given(st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=MAX_BATCH_TXS))
def test_every_array_of_bin_decodes_to_itself(txs: list[bytes]) -> None:
    assert decode_msgpack_batch(msgpack.packb(txs)) == txs


async def test_the_json_batch_form_still_refuses_other_content_types(
    api: tuple[FakeChain, httpx.AsyncClient],
) -> None:
    chain, client = api
    body = json.dumps({"txs": [TX.hex()]})
    for content_type in ("text/plain", "application/octet-stream"):
        response = await client.post(
            "/txs/batch", content=body, headers={"content-type": content_type}
        )
        assert response.status_code == 400 and response.json()["error"]["code"] == "BAD_REQUEST"
    typed = await client.post(
        "/txs/batch", content=body, headers={"content-type": "application/json"}
    )
    assert typed.status_code == 200 and typed.json()["results"][0]["accepted"]
    assert len(chain.mempool) == 1
