"""Four validator processes commit transfers submitted to different nodes, and all agree.

Each participant is onboarded, funded and then pays others, every transaction sent to a
different validator's API; the client proves each one final from its commit certificate. Then
every validator must report the same outcome for every transaction, the balances the test
computed itself, and the same block at every height.
"""

from __future__ import annotations

import random

from consensus.crypto import Signer
from ledger.tx import Body, Mint, RegisterParticipant, Transfer
from network.client import DepositClient, FinalityProof
from network.localnet import LocalNetwork
from tests.network.netcheck import NetProbe

SEED = 6_001
CURRENCY = "USD"
FUNDING = 1_000_000  # minor units minted to each participant
KYC_EXPIRY_HEIGHT = 10**9
TRANSFER_ROUNDS = 3
FINAL_TIMEOUT_S = 60.0


class Sender:
    """Submits each transaction to a chosen validator, with seeded transaction ids."""

    def __init__(self, net: LocalNetwork, rng: random.Random) -> None:
        self.net = net
        self.rng = rng
        self.clients = [DepositClient([url], net.genesis) for url in net.api_urls]
        self.everyone = DepositClient(list(net.api_urls), net.genesis)

    async def aclose(self) -> None:
        for client in [*self.clients, self.everyone]:
            await client.aclose()

    async def send(self, node: int, signer: Signer, body: Body) -> bytes:
        """Submit `body` signed by `signer` to validator `node`; its tx id."""
        tx_id, result = await self.clients[node].send(signer, body, nonce=self.rng.randbytes(16))
        assert result.accepted, (node, body, result)
        return tx_id

    async def wait_final(self, tx_ids: list[bytes]) -> list[FinalityProof]:
        proofs = []
        for tx_id in tx_ids:
            proof = await self.everyone.wait_final(tx_id, timeout_s=FINAL_TIMEOUT_S)
            assert proof.code == "OK", (tx_id.hex(), proof.code, proof.message)
            proofs.append(proof)
        return proofs


async def fund_participants(net: LocalNetwork, sender: Sender) -> list[FinalityProof]:
    """Register and fund every demo participant; registrations and mints go to node i % n."""
    roles, people = net.layout.roles, sorted(net.layout.participants.items())
    registered = [
        await sender.send(
            i % net.size,
            roles["compliance"],
            RegisterParticipant(signer.public_key, name, KYC_EXPIRY_HEIGHT),
        )
        for i, (name, signer) in enumerate(people)
    ]
    proofs = await sender.wait_final(registered)
    minted = [
        await sender.send(
            (i + 1) % net.size,
            roles["issuer-usd"],
            Mint(signer.public_key, CURRENCY, FUNDING, f"agreement-deposit-{i}"),
        )
        for i, (_, signer) in enumerate(people)
    ]
    return proofs + await sender.wait_final(minted)


async def test_transfers_to_different_nodes_commit_alike_everywhere(
    local_network: LocalNetwork,
) -> None:
    net = local_network
    rng = random.Random(SEED)
    people = [signer for _, signer in sorted(net.layout.participants.items())]
    balances = {p.public_key: FUNDING for p in people}
    sender = Sender(net, rng)
    try:
        async with NetProbe(net) as probe:
            with probe.logs_on_failure():
                proofs = await fund_participants(net, sender)
                transfers = []
                for round_ in range(TRANSFER_ROUNDS):
                    for i, payer in enumerate(people):
                        payee = people[(i + 1 + round_) % len(people)]
                        amount = rng.randint(1, 10_000)
                        body = Transfer(payer.public_key, payee.public_key, CURRENCY, amount)
                        # Payer i always goes through validator i: four entry points at once.
                        transfers.append(await sender.send(i % net.size, payer, body))
                        balances[payer.public_key] -= amount
                        balances[payee.public_key] += amount
                proofs += await sender.wait_final(transfers)

                top = max(p.height for p in proofs)
                await probe.wait_for_height(top)
                for proof in proofs:
                    for node in range(net.size):
                        response = await probe.get(node, f"/txs/{proof.tx_id.hex()}")
                        assert response is not None and response.status_code == 200
                        seen = response.json()
                        assert (seen["state"], seen["height"], seen["index"], seen["code"]) == (
                            "committed",
                            proof.height,
                            proof.index,
                            "OK",
                        ), (node, seen)
                for node in range(net.size):
                    for person in people:
                        response = await probe.get(node, f"/accounts/{person.public_key.hex()}")
                        assert response is not None and response.status_code == 200
                        account = response.json()
                        assert account["balances"] == {CURRENCY: balances[person.public_key]}, node
                assert sum(balances.values()) == FUNDING * len(people)
                await probe.assert_same_blocks(top)
                await probe.assert_no_equivocation()
    finally:
        await sender.aclose()
