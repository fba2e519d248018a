"""The SDK against the real 4-validator network on 127.0.0.1: the whole money flow with
verified finality, retries while a validator is down, and a lying validator caught."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from consensus import codec
from consensus.crypto import Ed25519Signer
from ledger.tx import Mint, Redeem, RegisterParticipant, SettleRedemption, Transfer
from network.api_server import serve_api
from network.client import DepositClient
from network.keys import load_key

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tests.network.conftest") is None,
    reason="tests/network/conftest.py (local_network) missing",
)


def role_keys(network: Any) -> dict[str, Ed25519Signer]:
    """governor, compliance and issuer (of the first currency) from the demo key files,
    matched to genesis by public key rather than by file name."""
    genesis = network.genesis
    wanted = {
        "governor": genesis.governors[0],
        "compliance": genesis.compliance[0],
        "issuer": genesis.currencies[0].issuer,
    }
    found = {}
    for path in sorted(Path(network.keys_dir).glob("*.key")):
        signer = load_key(path)
        for role, key in wanted.items():
            if signer.public_key == key:
                found[role] = signer
    assert set(found) == set(wanted), f"demo keys missing in {network.keys_dir}"
    return found


def lying_proxy(upstream: str) -> FastAPI:
    """An API that forwards to a real validator but drops precommits from every proof."""
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def forward(path: str, request: Request) -> Response:
        async with httpx.AsyncClient() as client:
            answer = await client.request(
                request.method,
                f"{upstream}/{path}",
                content=await request.body(),
                headers={"content-type": "application/json"},
            )
        body = answer.json()
        if path.startswith("txs/") and body.get("proof"):
            commit = codec.decode_commit(bytes.fromhex(body["proof"]["raw_commit"]))
            short = attrs.evolve(commit, precommits=commit.precommits[:2])
            body["proof"]["raw_commit"] = codec.encode_commit(short).hex()
        return JSONResponse(body, status_code=answer.status_code)

    return app


async def test_money_flow_with_verified_finality(local_network) -> None:
    roles = role_keys(local_network)
    genesis = local_network.genesis
    usd = genesis.currencies[0].code
    alice, bob = Ed25519Signer(b"\x1a" * 32), Ed25519Signer(b"\x1b" * 32)
    async with DepositClient(local_network.api_urls, genesis, timeout_s=5) as client:

        async def final(signer: Ed25519Signer, body: Any) -> bytes:
            tx_id, result = await client.send(signer, body)
            assert result.ok, result
            proof = await client.wait_final(tx_id, timeout_s=30)
            assert proof.code == "OK", proof
            assert proof.tx_id == tx_id and proof.header.chain_id == genesis.chain_id
            return tx_id

        await final(roles["compliance"], RegisterParticipant(alice.public_key, "alice-e2e", 10**9))
        await final(roles["compliance"], RegisterParticipant(bob.public_key, "bob-e2e", 10**9))
        await final(roles["issuer"], Mint(alice.public_key, usd, 100_00, "e2e-deposit-1"))
        await final(alice, Transfer(alice.public_key, bob.public_key, usd, 25_00, "e2e"))
        redemption = await final(bob, Redeem(usd, 5_00))
        await final(roles["issuer"], SettleRedemption(redemption, "e2e-payout-1"))
        assert (await client.account(alice.public_key))["balances"] == {usd: 75_00}
        assert (await client.account(bob.public_key))["balances"] == {usd: 20_00}
        assert client.suspects == {}


async def test_submit_survives_a_stopped_validator(local_network) -> None:
    roles = role_keys(local_network)
    carol = Ed25519Signer(b"\x1c" * 32)
    local_network.stop(0)
    try:
        async with DepositClient(local_network.api_urls, local_network.genesis) as client:
            body = RegisterParticipant(carol.public_key, "carol-e2e", 10**9)
            tx_id, wire = await client.prepare(roles["compliance"], body)
            result = await client.submit(wire)
            assert result.accepted and result.node_url != local_network.api_urls[0]
            again = await client.submit(wire)  # a retry is harmless
            assert again.ok and not again.accepted
            proof = await client.wait_final(tx_id, timeout_s=30)
            assert proof.code == "OK" and proof.node_url != local_network.api_urls[0]
    finally:
        local_network.start(0)


async def test_a_validator_serving_a_short_certificate_is_caught(local_network, nursery) -> None:
    roles = role_keys(local_network)
    dave = Ed25519Signer(b"\x1d" * 32)
    port = await nursery.start(serve_api, lying_proxy(local_network.api_urls[1]), "127.0.0.1", 0)
    liar = f"http://127.0.0.1:{port}"
    urls = [liar, *local_network.api_urls[1:]]
    async with DepositClient(urls, local_network.genesis) as client:
        tx_id, result = await client.send(
            roles["compliance"], RegisterParticipant(dave.public_key, "dave-e2e", 10**9)
        )
        assert result.accepted and result.node_url == liar  # the liar forwards submissions
        proof = await client.wait_final(tx_id, timeout_s=30)
        assert proof.node_url != liar
        assert "not more than 2/3" in client.suspects[liar]
    nursery.cancel_scope.cancel()
    await trio.lowlevel.checkpoint()
