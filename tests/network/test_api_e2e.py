"""Every API endpoint and its errors on the real 4-validator network on 127.0.0.1, and the
OpenAPI-driven fuzz against a live validator (no 5xx)."""

from __future__ import annotations

import importlib.util
import json

import httpx
import msgpack
import pytest
import trio

from consensus import codec
from consensus.crypto import Ed25519Signer
from consensus.replica.block import decode_block
from ledger.tx import RegisterParticipant
from network.client import DepositClient, verify_raw_block
from network.client_proofs import check_receipt, verify_header_body

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tests.network.conftest") is None,
    reason="tests/network/conftest.py (local_network) missing",
)


async def test_each_endpoint_and_its_errors(local_network) -> None:
    from tests.network.test_client_e2e import role_keys

    genesis = local_network.genesis
    url = local_network.api_urls[2]
    erin = Ed25519Signer(b"\x1e" * 32)
    async with DepositClient([url], genesis) as sdk, httpx.AsyncClient(base_url=url) as http:
        tx_id, wire = await sdk.prepare(
            role_keys(local_network)["compliance"], RegisterParticipant(erin.public_key, "erin", 99)
        )
        submitted = await http.post("/txs", json={"tx": wire.hex()})
        assert submitted.status_code == 202 and submitted.json()["tx_id"] == tx_id.hex()
        again = await http.post("/txs", json={"tx": wire.hex()})
        assert again.status_code == 200 and again.json()["code"] in (
            "ALREADY_IN_MEMPOOL",
            "ALREADY_COMMITTED",
        )
        broken = bytearray(wire)
        broken[-1] ^= 1
        rejected = await http.post("/txs", json={"tx": bytes(broken).hex()})
        assert rejected.status_code == 422 and rejected.json()["code"] == "BAD_SIGNATURE"
        assert (await http.post("/txs", json={"tx": "xyz"})).status_code == 400
        assert (await http.post("/txs", json={"tx": "00" * 300_000})).status_code == 413

        proof = await sdk.submit_and_wait(wire, timeout_s=30)
        status = (await http.get(f"/txs/{tx_id.hex()}")).json()
        assert status["state"] == "committed" and status["committed"]["height"] == proof.height
        served = bytes.fromhex(status["committed"]["receipt"])
        assert check_receipt(genesis, served, signed=wire).block_id == proof.block_id
        raw_receipt = await http.get(f"/txs/{tx_id.hex()}/receipt")
        assert raw_receipt.content == served and len(served) < 2_000  # never the whole block
        header = verify_header_body(genesis, (await http.get("/blocks/latest/header")).json())
        assert header.header.height >= proof.height
        assert (await http.get("/txs/" + "00" * 16)).json()["state"] == "unknown"
        assert (await http.get("/txs/nothex")).status_code == 400

        account = (await http.get(f"/accounts/{erin.public_key.hex()}")).json()
        assert account["registered"] is True and account["name"] == "erin"
        assert (await http.get("/accounts/abc")).status_code == 400

        block = (await http.get(f"/blocks/{proof.height}")).json()
        assert block["block_id"] == proof.block_id.hex()
        assert tx_id.hex() in [t["tx_id"] for t in block["txs"]]
        raw = await http.get(f"/blocks/{proof.height}/raw")
        assert raw.status_code == 200 and raw.headers["content-type"] == "application/msgpack"
        stored = codec.unpackb_canonical(raw.content)
        assert isinstance(stored, dict) and stored["height"] == proof.height
        assert (stored["block"].hex(), stored["commit"].hex()) == (
            block["raw_block"],
            block["raw_commit"],
        )
        txs = decode_block(stored["block"], len(stored["block"])).txs
        assert [tx.hex() for tx in txs] == [t["raw"] for t in block["txs"]] and wire in txs
        fetched = await sdk.raw_block(proof.height)
        verified, _, bid = verify_raw_block(genesis, fetched.block, fetched.commit, proof.height)
        assert bid == proof.block_id and verified.txs == txs
        assert (await http.get("/blocks/999999999/raw")).status_code == 404
        batch = await http.post(
            "/txs/batch",
            content=msgpack.packb([wire, bytes(broken)]),
            headers={"content-type": "application/msgpack"},
        )
        assert [r["code"] for r in batch.json()["results"]] == [
            "ALREADY_COMMITTED",
            "BAD_SIGNATURE",
        ]
        latest = (await http.get("/blocks/latest")).json()
        assert latest["height"] >= proof.height
        assert (await http.get("/blocks/999999999")).status_code == 404
        assert (await http.get("/blocks/x")).status_code == 400

        node_status = (await http.get("/status")).json()
        assert node_status["chain_id"] == genesis.chain_id and node_status["height"] >= 1
        assert len(node_status["validators"]["validators"]) == 4
        validators = (await http.get("/validators")).json()
        assert validators["total_power"] == genesis.validator_set().total_power
        metrics = (await http.get("/metrics")).text
        assert "depositnet_height " in metrics and "depositnet_committed_blocks_total" in metrics
        assert (await http.get("/openapi.json")).json()["paths"]
        assert (await http.get("/missing")).status_code == 404


async def test_block_and_tx_streams(local_network) -> None:
    url = local_network.api_urls[3]
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        start = (await http.get("/status")).json()["height"]
        heights = []
        async with http.stream("GET", "/events/blocks?limit=2") as response:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    heights.append(json.loads(line[6:])["height"])
        assert len(heights) == 2 and heights[0] > start and heights[1] == heights[0] + 1
        unknown = "ab" * 16
        async with http.stream("GET", f"/events/txs/{unknown}?timeout_s=0.5") as response:
            events = [line async for line in response.aiter_lines() if line.startswith("event:")]
        assert events == ["event: status", "event: timeout"]


async def test_fuzz_live_validator_from_its_openapi_document(local_network) -> None:
    from tests.network.test_api_fuzz import fuzz_api

    genesis = local_network.genesis
    known = (genesis.governors[0].hex(), genesis.compliance[0].hex(), "1", "2")
    seen = await fuzz_api(local_network.api_urls[0], known)
    assert {"txs", "accounts", "blocks", "status"} <= seen
    async with httpx.AsyncClient(base_url=local_network.api_urls[0]) as http:
        await trio.sleep(0)
        assert (await http.get("/status")).status_code in (200, 429)  # still serving
