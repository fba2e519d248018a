"""The SDK against the real 4-validator network on 127.0.0.1: the whole money flow with
verified receipts, and retries while a validator is down (lying and killed validators:
test_exactly_once_e2e.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from consensus.crypto import Ed25519Signer
from ledger.tx import Mint, Redeem, RegisterParticipant, SettleRedemption, Transfer
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


async def test_money_flow_with_verified_receipts(local_network) -> None:
    roles = role_keys(local_network)
    genesis = local_network.genesis
    usd = genesis.currencies[0].code
    alice, bob = Ed25519Signer(b"\x1a" * 32), Ed25519Signer(b"\x1b" * 32)
    async with DepositClient(local_network.api_urls, genesis, timeout_s=5) as client:

        async def final(signer: Ed25519Signer, body: Any) -> bytes:
            receipt = await client.sign_and_wait(signer, body, timeout_s=30)
            assert receipt.code == "OK", receipt
            assert receipt.certified_power * 3 > receipt.total_power * 2
            return receipt.tx_id

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
            _tx_id, wire = await client.prepare(roles["compliance"], body)
            result = await client.submit(wire)
            assert result.accepted and result.node_url != local_network.api_urls[0]
            again = await client.submit(wire)  # a retry is harmless
            assert again.ok and not again.accepted
            receipt = await client.submit_and_wait(wire, timeout_s=30)
            assert receipt.code == "OK" and receipt.node_url != local_network.api_urls[0]
    finally:
        local_network.start(0)
