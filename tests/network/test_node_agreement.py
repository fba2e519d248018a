"""Four validator processes commit transfers submitted to different nodes, and all agree.

Each participant is onboarded, funded and then pays others, every transaction sent to a
different validator's API; the client proves each one final with a receipt it verifies. Then
every validator must serve a receipt of that same commit, the balances the test
computed itself, and the same block at every height.
"""

from __future__ import annotations

import random

from consensus.crypto import Signer
from ledger.tx import Body, Mint, RegisterParticipant, Transfer
from network.client import DepositClient, FinalReceipt
from network.client_proofs import check_receipt
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
        """Submit `body` signed by `signer` to validator `node`; the signed bytes."""
        client = self.clients[node]
        _tx_id, wire = await client.prepare(signer, body, nonce=self.rng.randbytes(16))
        result = await client.submit(wire)
        assert result.accepted, (node, body, result)
        return wire

    async def wait_final(self, wires: list[bytes]) -> list[FinalReceipt]:
        """A verified receipt of each (from any validator: the same bytes are re-sent)."""
        receipts = []
        for wire in wires:
            receipt = await self.everyone.submit_and_wait(wire, timeout_s=FINAL_TIMEOUT_S)
            assert receipt.code == "OK", (receipt.tx_id.hex(), receipt.code, receipt.message)
            receipts.append(receipt)
        return receipts


async def fund_participants(net: LocalNetwork, sender: Sender) -> list[FinalReceipt]:
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
                        assert seen["state"] == "committed", (node, seen)
                        committed = seen["committed"]
                        assert (committed["height"], committed["index"], committed["code"]) == (
                            proof.height,
                            proof.index,
                            "OK",
                        ), (node, seen)
                        # each validator's own certificate (its set of precommits may
                        # differ), proving the same bytes in the same block
                        raw = bytes.fromhex(committed["receipt"])
                        served = check_receipt(net.genesis, raw, signed=proof.receipt.tx)
                        assert (served.block_id, served.index) == (proof.block_id, proof.index)
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
