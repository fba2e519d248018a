"""Submit-to-verified-final latency on a local 4-validator network, as a client sees it.

Starts four validator processes on 127.0.0.1 (network.localnet, the same harness the tests
use), onboards two participants, mints to one, then times transfers one after another: from
the moment the SDK submits the signed bytes until `submit_and_wait` holds a receipt it has
verified against the genesis validator set. Prints p50, p90, p99 and max. Run from the
repository root:

    python bench/finality_latency.py [--transfers 200] [--concurrency 1] [--poll-ms 20]

`--concurrency N` keeps N transfers in flight (from N senders) to see latency under load.
The consensus timeouts are the node defaults unless `--fast-timeouts` is given.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import trio

from consensus.crypto import Ed25519Signer
from ledger.tx import Mint, RegisterParticipant, Transfer
from network.client import DepositClient, percentile
from network.keys import load_key
from network.localnet import LocalNetwork

FAST_TIMEOUTS = """
[timeouts]
propose_ms = 1000
propose_delta_ms = 250
prevote_ms = 500
prevote_delta_ms = 250
precommit_ms = 500
precommit_delta_ms = 250
"""


def roles(net: LocalNetwork) -> dict[str, Ed25519Signer]:
    g = net.genesis
    wanted = {"compliance": g.compliance[0], "issuer": g.currencies[0].issuer}
    out = {}
    for path in sorted(Path(net.keys_dir).glob("*.key")):
        signer = load_key(path)
        out.update({r: signer for r, k in wanted.items() if signer.public_key == k})
    return out


async def run(net: LocalNetwork, transfers: int, concurrency: int, poll_s: float) -> list[float]:
    keys = roles(net)
    usd = net.genesis.currencies[0].code
    senders = [Ed25519Signer(bytes([0x40 + i]) * 32) for i in range(concurrency)]
    sink = Ed25519Signer(b"\x3f" * 32)
    latencies: list[float] = []
    async with DepositClient(net.api_urls, net.genesis, timeout_s=10) as client:

        async def final(signer: Ed25519Signer, body: object) -> float:
            _tx_id, wire = await client.prepare(signer, body)  # type: ignore[arg-type]
            start = time.perf_counter()
            proof = await client.submit_and_wait(wire, timeout_s=60, poll_s=poll_s)
            if proof.code != "OK":
                raise SystemExit(f"committed with {proof.code}: {proof.message}")
            return time.perf_counter() - start

        for i, who in enumerate([sink, *senders]):
            await final(keys["compliance"], RegisterParticipant(who.public_key, f"bench{i}", 10**9))
            if who is not sink:
                await final(keys["issuer"], Mint(who.public_key, usd, 10**12, f"bench-dep-{i}"))

        async def sender(signer: Ed25519Signer, count: int) -> None:
            for _ in range(count):
                body = Transfer(signer.public_key, sink.public_key, usd, 1)
                latencies.append(await final(signer, body))

        async with trio.open_nursery() as nursery:
            for i, signer in enumerate(senders):
                share = transfers // concurrency + (1 if i < transfers % concurrency else 0)
                nursery.start_soon(sender, signer, share)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--poll-ms", type=float, default=20.0)
    parser.add_argument("--fast-timeouts", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="depositnet-bench-") as tmp:
        extra = FAST_TIMEOUTS if args.fast_timeouts else ""
        with LocalNetwork(Path(tmp), validators=4, config_extra=extra) as net:
            net.start_all()
            began = time.perf_counter()
            samples = trio.run(run, net, args.transfers, args.concurrency, args.poll_ms / 1000)
            elapsed = time.perf_counter() - began
    ms = [s * 1000 for s in samples]
    print(
        f"{len(ms)} transfers, concurrency {args.concurrency}, poll {args.poll_ms:g} ms: "
        f"submit -> verified final p50 {percentile(ms, 0.5):.0f} ms, "
        f"p90 {percentile(ms, 0.9):.0f} ms, p99 {percentile(ms, 0.99):.0f} ms, "
        f"max {max(ms):.0f} ms ({elapsed:.1f} s total incl. setup)"
    )


if __name__ == "__main__":
    main()
