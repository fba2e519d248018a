"""Exactly-once payments on the real 4-validator network (processes on 127.0.0.1, links
through `ProxyHub` so one validator can be cut off): issue 12's three scenarios.

(a) `depositnet tx transfer ... --tx-id X --wait` three times, the third after the chain has
    moved on by many heights: one payment, the same first receipt reported every time;
(b) a validator (an HTTP proxy in front of a real one) that answers with the real, certified
    receipt of another transaction of the same signer: refused, the right one taken elsewhere;
(c) a validator SIGKILLed right after it accepted the payment, cut off so it could not gossip
    it: `submit_and_wait` re-sends the same bytes elsewhere and ends with one commit.

Exactly-once is judged without the code under test: the signed bytes are counted in the raw
blocks the validators serve, and balances are checked by arithmetic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
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
from ledger.tx import Mint, RegisterParticipant, Transfer
from network.api_server import serve_api
from network.client import DepositClient
from network.localnet import LocalNetwork
from tests.network.netcheck import FAULT_TEST_CONFIG, NetProbe, kill, start
from tests.network.proxy import ProxyHub, proxied_network
from tests.network.test_cli_e2e import depositnet, write_setup
from tests.network.test_client_e2e import role_keys

FUNDS = 100_000
CONFIG = FAULT_TEST_CONFIG + "\n[blocks]\ncreate_empty_blocks = true\n"
"""Short timeouts (a validator is killed), and empty blocks at consensus speed, so the chain
can move on by many heights between two retries (as the issue's idle chain did)."""
PAYERS = {name: Ed25519Signer(bytes([0x60 + i]) * 32) for i, name in enumerate("abc")}
PAYEES = {name: Ed25519Signer(bytes([0x70 + i]) * 32) for i, name in enumerate("abc")}


@attrs.define
class Net:
    net: LocalNetwork
    hub: ProxyHub
    currency: str


@pytest.fixture(scope="module")
def exactly_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """Four validators behind per-link proxies; payers funded, payees registered."""
    with ProxyHub() as hub:
        net = proxied_network(
            tmp_path_factory.mktemp("exactly-once"), hub, validators=4, config=CONFIG
        )
        hub.start()
        with net:
            net.start_all()
            currency = net.genesis.currencies[0].code
            trio.run(fund, net, currency)
            yield Net(net, hub, currency)


async def fund(net: LocalNetwork, currency: str) -> None:
    roles = role_keys(net)
    async with DepositClient(net.api_urls, net.genesis) as client:

        async def final(signer: Ed25519Signer, body: Any) -> None:
            receipt = await client.sign_and_wait(signer, body, timeout_s=60)
            assert receipt.code == "OK", receipt

        async with trio.open_nursery() as nursery:
            for name, who in [*PAYERS.items(), *PAYEES.items()]:
                body = RegisterParticipant(who.public_key, f"{name}-{who.public_key[0]}", 10**9)
                nursery.start_soon(final, roles["compliance"], body)
        async with trio.open_nursery() as nursery:
            for i, payer in enumerate(PAYERS.values()):
                mint = Mint(payer.public_key, currency, FUNDS, f"exactly-once-{i}")
                nursery.start_soon(final, roles["issuer"], mint)


async def count_in_blocks(probe: NetProbe, wanted: bytes, from_height: int, to_height: int) -> int:
    """How many times the exact bytes `wanted` occur in blocks from..to (read raw, as stored,
    from the running validators in turn, and decoded here)."""
    found = 0
    for height in range(max(1, from_height), to_height + 1):
        with trio.fail_after(60):
            while True:
                node = height % probe.net.size
                response = await probe.get(node, f"/blocks/{height}/raw")
                if response is not None and response.status_code == 200:
                    break
                await trio.sleep(0.05)  # down, rate limited, or not there yet: another one
        stored = codec.unpackb_canonical(response.content, 64 << 20)
        assert isinstance(stored, dict) and stored["height"] == height
        txs = codec.unpackb_canonical(stored["block"], 64 << 20)[1]  # type: ignore[index]
        found += sum(1 for tx in txs if tx == wanted)
    return found


async def balance(probe: NetProbe, node: int, who: Ed25519Signer, currency: str) -> int:
    response = await probe.get(node, f"/accounts/{who.public_key.hex()}")
    assert response is not None and response.status_code == 200
    return int(response.json()["balances"].get(currency, 0))


async def top_height(probe: NetProbe, nodes: list[int] | None = None) -> int:
    return max(h for h in (await probe.heights(nodes)).values() if h is not None)


# ---------------------------------------------------------------------- (a)


async def test_the_cli_retry_sequence_pays_once_and_reports_the_first_receipt(
    exactly_once: Net, tmp_path: Path
) -> None:
    net, currency = exactly_once.net, exactly_once.currency
    payer, payee = PAYERS["a"], PAYEES["a"]
    keys = write_setup(tmp_path, net.genesis, {"payer": payer, "payee": payee})
    journal = tmp_path / "journal"
    env = {
        "DEPOSITNET_GENESIS": str(net.genesis_path),
        "DEPOSITNET_NODE": ",".join(net.api_urls),
        "DEPOSITNET_JOURNAL": str(journal),
    }
    pay = ("tx", "transfer", keys["payee"], currency, "2500", "--key", keys["payer"])
    async with NetProbe(net) as probe:
        first_height = await top_height(probe)
        finals = []
        for run in range(3):
            if run == 2:
                await probe.advance(60)  # the chain moves on by many heights
            status, out, err = await depositnet(*pay, "--tx-id", "INV-0001", "--wait", env=env)
            assert status == 0, (out, err)
            finals.append(next(line for line in out.splitlines() if line.startswith("final")))
        assert finals[0] == finals[1] == finals[2], finals
        assert finals[0].endswith("outcome OK, receipt verified")
        (entry_file,) = journal.glob("*.json")
        wire = bytes.fromhex(json.loads(entry_file.read_text())["tx"])
        top = await top_height(probe)
        assert await count_in_blocks(probe, wire, first_height, top) == 1
        for node in range(net.size):
            assert await balance(probe, node, payee, currency) == 2500
            assert await balance(probe, node, payer, currency) == FUNDS - 2500


# ---------------------------------------------------------------------- (b)


def substituting_proxy(upstream: str, other_tx_id: str) -> FastAPI:
    """An API in front of a real validator that forwards everything, but wherever a
    transaction is said to be committed, serves the real, certified commit and receipt of
    the transaction `other_tx_id` instead (claiming the asked-for id)."""
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def forward(path: str, request: Request) -> Response:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.request(
                request.method,
                f"{upstream}/{path}",
                content=await request.body(),
                headers={"content-type": request.headers.get("content-type", "")},
            )
            media_type = answer.headers.get("content-type", "")
            if not media_type.startswith("application/json"):
                return Response(answer.content, answer.status_code, media_type=media_type)
            body = answer.json()
            if isinstance(body, dict) and body.get("committed"):
                other = (await client.get(f"{upstream}/txs/{other_tx_id}")).json()["committed"]
                body["committed"] = {**other, "tx_id": body["committed"]["tx_id"]}
        return JSONResponse(body, status_code=answer.status_code)

    return app


async def test_a_validator_lying_with_another_transactions_receipt_is_refused(
    exactly_once: Net, nursery: trio.Nursery
) -> None:
    net, currency = exactly_once.net, exactly_once.currency
    payer, payee = PAYERS["b"], PAYEES["b"]
    async with DepositClient(net.api_urls, net.genesis) as honest:
        earlier = await honest.sign_and_wait(
            payer, Transfer(payer.public_key, payee.public_key, currency, 100), timeout_s=60
        )
        _tx_id, wire = await honest.prepare(
            payer, Transfer(payer.public_key, payee.public_key, currency, 2_000)
        )
    app = substituting_proxy(net.api_urls[1], earlier.tx_id.hex())
    liar = f"http://127.0.0.1:{await nursery.start(serve_api, app, '127.0.0.1', 0)}"
    async with NetProbe(net) as probe:
        first_height = await top_height(probe)
        async with DepositClient([liar], net.genesis) as alone:  # the liar's answer, judged
            with trio.fail_after(60):
                async with trio.open_nursery() as waiting:
                    waiting.start_soon(partial(alone.submit_and_wait, wire))
                    while liar not in alone.suspects:
                        await trio.sleep(0.02)
                    waiting.cancel_scope.cancel()
            assert "is of tx_id " + earlier.tx_id.hex() in alone.suspects[liar]
        urls = [liar, *net.api_urls[:1], *net.api_urls[2:]]
        async with DepositClient(urls, net.genesis) as client:
            final = await client.submit_and_wait(wire, timeout_s=60)
        assert final.node_url != liar and final.receipt.tx == wire and final.code == "OK"
        assert final.tx_id != earlier.tx_id and final.height > earlier.height
        top = await top_height(probe)
        assert await count_in_blocks(probe, wire, first_height, top) == 1
        assert await balance(probe, 2, payee, currency) == 2_100
        assert await balance(probe, 2, payer, currency) == FUNDS - 2_100
    nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------- (c)


async def pending_at(probe: NetProbe, node: int, tx_id: bytes) -> bool:
    response = await probe.get(node, f"/txs/{tx_id.hex()}")
    return response is not None and response.json().get("state") == "pending"


async def test_a_validator_killed_right_after_accepting_loses_no_payment(
    exactly_once: Net,
) -> None:
    net, hub, currency = exactly_once.net, exactly_once.hub, exactly_once.currency
    payer, payee = PAYERS["c"], PAYEES["c"]
    victim, others = 0, [1, 2, 3]
    async with NetProbe(net) as probe, DepositClient(net.api_urls, net.genesis) as client:
        first_height = await top_height(probe)
        tx_id, wire = await client.prepare(
            payer, Transfer(payer.public_key, payee.public_key, currency, 3_000)
        )
        hub.partition([victim], others)  # it can take the payment, but not gossip it
        outcome: list[Any] = []

        async def pay() -> None:
            outcome.append(await client.submit_and_wait(wire, timeout_s=120, resend_after_s=4))

        async with trio.open_nursery() as nursery:
            client.prefer(net.api_urls[victim])  # the victim gets the first send
            nursery.start_soon(pay)
            await probe.wait_until(
                partial(pending_at, probe, victim, tx_id), "the payment pending at the victim"
            )
            await kill(net, victim)
            for node in others:  # it was lost with the victim: no one else has it
                seen = await probe.get(node, f"/txs/{tx_id.hex()}")
                assert seen is not None and seen.json()["state"] == "unknown", seen.json()
        (final,) = outcome
        assert final.receipt.tx == wire and final.node_url != net.api_urls[victim]
        hub.heal()
        await start(net, victim)
        top = await top_height(probe, others)
        await probe.wait_for_height(top)  # the victim caught up
        assert await count_in_blocks(probe, wire, first_height, top) == 1
        for node in range(net.size):
            assert await balance(probe, node, payee, currency) == 3_000
            assert await balance(probe, node, payer, currency) == FUNDS - 3_000
        again = await client.submit_and_wait(wire, timeout_s=60)  # the restarted one too
        assert (again.height, again.index) == (final.height, final.index)
