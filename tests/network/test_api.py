"""The HTTP API over a FakeChain, served by hypercorn's trio worker on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import attrs
import httpx
import msgpack
import pytest
import trio
import trio.testing

from consensus import codec
from consensus.replica.block import block_id, decode_block, decode_header
from ledger.receipt import decode_receipt
from ledger.tx import Mint, RegisterParticipant, Transfer
from ledger.txcodec import from_wire
from network.api_events import EventStreams
from network.api_limits import ApiLimits
from tests.network.apifake import (
    ALICE,
    BOB,
    COMPLIANCE,
    ISSUER,
    FakeChain,
    FakeNode,
    serve_node,
    signed,
)


@pytest.fixture
async def api(nursery: trio.Nursery) -> AsyncIterator[tuple[FakeChain, httpx.AsyncClient]]:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain))
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield chain, client


def register(key: bytes, name: str) -> bytes:
    return signed(COMPLIANCE, RegisterParticipant(key, name, 10_000))


async def test_submit_accepts_then_reports_a_retry_as_known(api) -> None:
    chain, client = api
    tx = register(ALICE.public_key, "alice")
    first = await client.post("/txs", json={"tx": tx.hex()})
    assert first.status_code == 202
    assert first.json()["accepted"] is True and first.json()["code"] == "OK"
    tx_id = first.json()["tx_id"]
    assert len(tx_id) == 32
    again = await client.post(
        "/txs", json={"tx": base64.b64encode(tx).decode(), "encoding": "base64"}
    )
    assert again.status_code == 200
    assert again.json() == {
        "tx_id": tx_id,
        "accepted": False,
        "code": "ALREADY_IN_MEMPOOL",
        "message": "already pending",
        "committed": None,
    }
    chain.commit()
    committed = await client.post("/txs", json={"tx": tx.hex()})
    assert committed.status_code == 200 and committed.json()["code"] == "ALREADY_COMMITTED"
    assert (
        committed.json()["committed"]["tx_id"] == tx_id
    )  # with its receipt: see test_api_receipts


async def test_submit_rejections_carry_the_ledger_code(api) -> None:
    _chain, client = api
    tx = bytearray(register(ALICE.public_key, "alice"))
    tx[-1] ^= 1  # breaks the signature
    bad_sig = await client.post("/txs", json={"tx": bytes(tx).hex()})
    assert bad_sig.status_code == 422
    assert bad_sig.json()["code"] == "BAD_SIGNATURE" and bad_sig.json()["accepted"] is False
    junk = await client.post("/txs", json={"tx": "c1"})  # msgpack 0xc1 is never valid
    assert junk.status_code == 422
    assert junk.json()["tx_id"] is None and junk.json()["code"] == "MALFORMED"


@pytest.mark.parametrize(
    "body",
    [
        {"tx": "zz"},
        {"tx": "abc"},
        {"tx": "%%%", "encoding": "base64"},
        {"tx": ""},
        {"tx": "00", "encoding": "rot13"},
        {"tx": "00", "extra": 1},
        {"tx": 5},
        {},
        [],
        "00",
    ],
)
async def test_malformed_submissions_get_400(api, body: object) -> None:
    _chain, client = api
    response = await client.post("/txs", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BAD_REQUEST" and error["message"]


async def test_invalid_json_and_oversized_bodies(nursery: trio.Nursery) -> None:
    url = await serve_node(nursery, FakeNode(FakeChain()), limits=ApiLimits(max_body_bytes=1000))
    async with httpx.AsyncClient(base_url=url) as client:
        bad = await client.post(
            "/txs", content=b'{"tx": ', headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400
        big = await client.post("/txs", json={"tx": "00" * 1000})
        assert big.status_code == 413 and big.json()["error"]["code"] == "BODY_TOO_LARGE"

        async def chunks():  # no Content-Length: counted while read
            for _ in range(10):
                yield b" " * 200

        streamed = await client.post("/txs", content=chunks())
        assert streamed.status_code == 413
        ok = await client.get("/status")
        assert ok.status_code == 200


async def test_tx_status_pending_committed_with_receipt_and_unknown(api) -> None:
    chain, client = api
    tx = register(ALICE.public_key, "alice")
    tx_id = (await client.post("/txs", json={"tx": tx.hex()})).json()["tx_id"]
    pending = (await client.get(f"/txs/{tx_id}")).json()
    assert pending == {"tx_id": tx_id, "state": "pending", "checked_height": 0, "committed": None}
    committed_block = chain.commit()
    body = (await client.get(f"/txs/{tx_id}")).json()
    assert body["state"] == "committed" and body["checked_height"] == 1
    committed = body["committed"]
    assert (committed["height"], committed["index"], committed["code"]) == (1, 0, "OK")
    assert committed["block_id"] == committed_block.block_id.hex()
    assert committed["block_time_ms"] == 1000
    receipt = decode_receipt(bytes.fromhex(committed["receipt"]))
    assert receipt.tx == tx and receipt.commit == committed_block.commit
    assert block_id(decode_header(receipt.header)).hex() == committed["block_id"]
    assert "raw_block" not in json.dumps(body)  # the receipt, never the whole block
    unknown = (await client.get("/txs/" + "ab" * 16)).json()
    assert unknown["state"] == "unknown" and unknown["committed"] is None
    assert unknown["checked_height"] == 1


@pytest.mark.parametrize("path", ["/txs/xyz", "/txs/" + "ab" * 17, "/txs/" + "zz" * 16])
async def test_bad_tx_ids_get_400(api, path: str) -> None:
    _chain, client = api
    response = await client.get(path)
    assert response.status_code == 400 and response.json()["error"]["code"] == "BAD_REQUEST"


async def test_accounts_show_balances_per_currency(api) -> None:
    chain, client = api
    for tx in (register(ALICE.public_key, "alice"), register(BOB.public_key, "bob")):
        await client.post("/txs", json={"tx": tx.hex()})
    chain.commit()
    await client.post(
        "/txs", json={"tx": signed(ISSUER, Mint(ALICE.public_key, "USD", 500, "dep-1")).hex()}
    )
    chain.commit()
    transfer = Transfer(ALICE.public_key, BOB.public_key, "USD", 120, "rent")
    await client.post("/txs", json={"tx": signed(ALICE, transfer).hex()})
    chain.commit()
    alice = (await client.get(f"/accounts/{ALICE.public_key.hex()}")).json()
    assert alice["registered"] is True and alice["name"] == "alice" and alice["frozen"] is False
    assert alice["balances"] == {"USD": 380} and alice["height"] == 3
    bob = (await client.get(f"/accounts/{BOB.public_key.hex().upper()}")).json()
    assert bob["balances"] == {"USD": 120}
    stranger = (await client.get("/accounts/" + "11" * 32)).json()
    assert stranger["registered"] is False and stranger["balances"] == {}
    bad = await client.get("/accounts/1234")
    assert bad.status_code == 400


async def test_blocks_by_height_latest_and_missing(api) -> None:
    chain, client = api
    none_yet = await client.get("/blocks/latest")
    assert none_yet.status_code == 404 and none_yet.json()["error"]["code"] == "NOT_FOUND"
    await client.post("/txs", json={"tx": register(ALICE.public_key, "alice").hex()})
    chain.commit()
    chain.commit()
    first = (await client.get("/blocks/1")).json()
    assert first["height"] == 1 and first["tx_count"] == 1
    assert first["txs"][0]["kind"] == "REGISTER_PARTICIPANT"
    assert first["txs"][0]["body"]["key"] == ALICE.public_key.hex()
    assert first["last_commit"] is None
    latest = (await client.get("/blocks/latest")).json()
    assert latest["height"] == 2 and latest["header"]["prev_block_id"] == first["block_id"]
    assert latest["last_commit"]["block_id"] == first["block_id"]
    for path, status in [
        ("/blocks/3", 404),
        ("/blocks/0", 404),
        ("/blocks/-1", 400),
        ("/blocks/abc", 400),
        ("/blocks/" + "9" * 30, 400),
        ("/blocks/1.5", 400),
    ]:
        response = await client.get(path)
        assert response.status_code == status, path
        assert "error" in response.json()


async def test_raw_blocks_are_the_stored_bytes_in_msgpack(api) -> None:
    chain, client = api
    none_yet = await client.get("/blocks/latest/raw")
    assert none_yet.status_code == 404 and none_yet.json()["error"]["code"] == "NOT_FOUND"
    alice, bob = register(ALICE.public_key, "alice"), register(BOB.public_key, "bob")
    await client.post("/txs/batch", json={"txs": [alice.hex(), bob.hex()]})
    chain.commit()
    chain.commit()
    for height in (1, 2):
        response = await client.get(f"/blocks/{height}/raw")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/msgpack"
        raw = codec.unpackb_canonical(response.content)  # canonical: keys sorted, bytes as bin
        stored = chain.blocks[height]
        assert raw == {
            "block": stored.block,
            "block_id": stored.block_id,
            "commit": stored.commit,
            "height": height,
        }
        as_json = (await client.get(f"/blocks/{height}")).json()
        assert raw["block"].hex() == as_json["raw_block"]
        assert raw["commit"].hex() == as_json["raw_commit"]
        block = decode_block(raw["block"], len(raw["block"]))
        assert [tx.hex() for tx in block.txs] == [t["raw"] for t in as_json["txs"]]
        assert block_id(block.header) == raw["block_id"]
        assert codec.decode_commit(raw["commit"]).block_id == raw["block_id"]
    assert decode_block(chain.blocks[1].block, 1 << 20).txs == (alice, bob)
    latest = await client.get("/blocks/latest/raw")
    assert codec.unpackb_canonical(latest.content)["height"] == 2
    for path, status in [
        ("/blocks/3/raw", 404),
        ("/blocks/0/raw", 404),
        ("/blocks/-1/raw", 400),
        ("/blocks/abc/raw", 400),
        ("/blocks/" + "9" * 30 + "/raw", 400),
        ("/blocks/1.5/raw", 400),
        ("/blocks//raw", 404),
    ]:
        response = await client.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/json", path
        assert set(response.json()["error"]) == {"code", "message"}, path
    assert (await client.post("/blocks/1/raw")).status_code == 405


async def test_raw_blocks_decode_nothing(nursery: trio.Nursery, monkeypatch) -> None:
    """Served from a node whose stored block does not even decode: the JSON form is a 500
    (this validator's data is broken), the raw form hands over the bytes as they are."""
    chain = FakeChain()
    chain.submit(register(ALICE.public_key, "alice"))
    chain.commit()
    url = await serve_node(
        nursery, FakeNode(chain, tamper=lambda cb: attrs.evolve(cb, block=b"\xc1junk"))
    )

    def never(*args: object, **kw: object) -> None:
        raise AssertionError("the raw form decoded something")

    monkeypatch.setattr("network.api_render.decode_block", never)
    monkeypatch.setattr("network.api_render.decode_tx", never)
    async with httpx.AsyncClient(base_url=url) as client:
        raw = await client.get("/blocks/1/raw")
        assert raw.status_code == 200
        assert msgpack.unpackb(raw.content)["block"] == b"\xc1junk"
        monkeypatch.undo()
        assert (await client.get("/blocks/1")).status_code == 500


async def test_status_validators_metrics_openapi_and_unknown_routes(api) -> None:
    chain, client = api
    chain.commit()
    status = (await client.get("/status")).json()
    assert status["chain_id"] == "fake-chain" and status["height"] == 1
    assert len(status["peers"]) == 3 and status["validators"]["total_power"] == 40
    validators = (await client.get("/validators")).json()
    keys = [v["public_key"] for v in validators["validators"]]
    assert keys == sorted(keys) and len(keys) == 4
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'depositnet_api_responses_total{status="2xx"}' in metrics.text
    doc = (await client.get("/openapi.json")).json()
    assert {
        "/txs",
        "/txs/{tx_id}",
        "/accounts/{key}",
        "/blocks/{height}",
        "/blocks/{height}/raw",
        "/status",
        "/events/blocks",
    } <= set(doc["paths"])
    raw = doc["paths"]["/blocks/{height}/raw"]["get"]["responses"]
    assert set(raw["200"]["content"]) == {"application/msgpack"}
    assert "application/json" in raw["404"]["content"]
    batch = doc["paths"]["/txs/batch"]["post"]["requestBody"]["content"]
    assert set(batch) == {"application/json", "application/msgpack"}
    assert batch["application/msgpack"]["schema"]["maxItems"] == 500
    missing = await client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    wrong_method = await client.delete("/status")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_rate_limit_answers_429_with_retry_after(nursery: trio.Nursery) -> None:
    now = [0.0]
    limits = ApiLimits(rate_per_s=1.0, burst=3)
    url = await serve_node(nursery, FakeNode(FakeChain()), limits=limits, rate_clock=lambda: now[0])
    async with httpx.AsyncClient(base_url=url) as client:
        statuses = [(await client.get("/status")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = await client.get("/validators")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
        assert limited.json()["error"]["code"] == "RATE_LIMITED"
        now[0] += 1.0  # one token back
        assert (await client.get("/status")).status_code == 200
        assert (await client.get("/status")).status_code == 429


async def read_events(lines: AsyncIterator[str], count: int) -> list[tuple[str, dict]]:
    """The next `count` events from a stream's lines (fewer if the stream ends first). Pass the
    same `lines` iterator again to read on: a response's lines can be iterated only once."""
    events: list[tuple[str, dict]] = []
    name = ""
    async for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
            if len(events) == count:
                break
    return events


async def test_block_stream_sends_each_new_block(api) -> None:
    chain, client = api
    chain.commit()
    async with client.stream("GET", "/events/blocks") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        # the stream's first line says where it starts: only then do the blocks commit
        assert await anext(lines) == ": blocks from height 2"
        chain.commit()
        chain.commit()
        events = await read_events(lines, 2)
    assert [e[0] for e in events] == ["block", "block"]
    assert [e[1]["height"] for e in events] == [2, 3]
    assert events[0][1]["block_id"] == chain.blocks[2].block_id.hex()
    async with client.stream("GET", "/events/blocks?from_height=1&limit=3") as response:
        replay = await read_events(response.aiter_lines(), 10)  # ends by itself after `limit`
    assert [e[1]["height"] for e in replay] == [1, 2, 3]


async def test_tx_stream_reports_pending_then_committed_then_ends(api) -> None:
    chain, client = api
    tx = register(ALICE.public_key, "alice")
    tx_id = (await client.post("/txs", json={"tx": tx.hex()})).json()["tx_id"]
    async with client.stream("GET", f"/events/txs/{tx_id}") as response:
        lines = response.aiter_lines()
        pending = await read_events(lines, 1)  # the stream reported it pending: now commit it
        chain.commit()  # an empty-of-this-tx block cannot happen here: it is in the mempool
        events = pending + await read_events(lines, 10)
    assert [(name, body["state"]) for name, body in events] == [
        ("status", "pending"),
        ("status", "committed"),
    ]
    assert events[1][1]["committed"]["block_id"] == chain.blocks[1].block_id.hex()
    assert decode_receipt(bytes.fromhex(events[1][1]["committed"]["receipt"])).tx == tx


async def test_a_commit_while_the_first_status_goes_out_is_not_missed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The stream is driven by hand on a virtual clock: the block commits while the stream is
    suspended on its first event. Its next event is the commit, at once, not after the
    keepalive period (the stream used to take the height to wait for only after that yield)."""
    chain = FakeChain()
    tx = register(ALICE.public_key, "alice")
    assert chain.submit(tx).accepted
    streams = EventStreams(FakeNode(chain), ApiLimits())
    stream = streams.tx(from_wire(tx).tx_id, timeout_s=600.0)
    assert b'"state":"pending"' in await anext(stream)
    chain.commit()  # while the first event is on its way to the client
    start = trio.current_time()
    assert b'"state":"committed"' in await anext(stream)
    assert trio.current_time() == start  # no wait at all, on a clock that jumps when idle
    await stream.aclose()
    assert streams.open == 0


async def test_tx_stream_ends_with_an_explicit_timeout_event(api) -> None:
    _chain, client = api
    async with client.stream("GET", "/events/txs/" + "cd" * 16 + "?timeout_s=0.05") as response:
        events = await read_events(response.aiter_lines(), 10)
    assert [name for name, _ in events] == ["status", "timeout"]
    assert events[1][1]["tx_id"] == "cd" * 16
    bad = await client.get("/events/txs/" + "cd" * 16 + "?timeout_s=-1")
    assert bad.status_code == 400


async def test_stream_limit_refuses_with_503(nursery: trio.Nursery) -> None:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain), limits=ApiLimits(max_streams=1))
    async with (
        httpx.AsyncClient(base_url=url) as client,
        client.stream("GET", "/events/blocks") as first,
    ):
        async for _line in first.aiter_lines():
            break  # the stream is open once its first line arrived
        second = await client.get("/events/blocks")
        assert second.status_code == 503
        assert second.json()["error"]["code"] == "TOO_MANY_STREAMS"
