"""`depositnet testnet`: a local network doing real transfers, watched live, checked at the end.

It writes a testnet to a temporary directory, starts the validators as separate processes,
onboards demo participants and mints to them (waiting for verified finality), then streams
signed transfers into random validators at `--rate` per second for `--duration` seconds. A
status line shows the height, committed transfers per second and finality latency. At the end
it checks that every validator holds the same block at the last common height: each header
holds the previous block's id and app hash, so one equal block id means equal chains and equal
app hashes below it. Ctrl-C stops the load, checks that agreement, prints the summary of
what ran and stops the validators cleanly.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import attrs
import trio

from consensus.crypto import Ed25519Signer
from depositnet.cli import CommandError
from ledger.signing import make_tx
from ledger.tx import Body, Mint, RegisterParticipant, Transfer, derive_tx_id
from network.client import ClientError, DepositClient, percentile
from network.localnet import LocalNetwork, LocalNetworkError
from network.start_errors import sole_error
from network.testnet_init import TestnetLayout

ONBOARD_AMOUNT = 100_000_000_00  # minor units minted per participant and currency: 100 million
KYC_EXPIRY_HEIGHT = 10**9
FOLLOW_POLL_S = 0.05
AGREEMENT_TIMEOUT_S = 15.0
TICK_S = 0.05  # the load generator submits one batch per tick
MAX_BATCH = 500  # the API's limit per POST /txs/batch


@attrs.define
class LoadStats:
    """What the load generator saw; latencies in seconds from submit to commit."""

    submitted: int = 0
    rejected: dict[str, int] = attrs.Factory(dict)
    committed: int = 0
    latencies_s: list[float] = attrs.Factory(list)
    commit_times: list[float] = attrs.Factory(list)
    pending: dict[str, float] = attrs.Factory(dict)  # tx_id hex -> submit time
    height: int = 0
    chain_time_ms: int = 0  # the time of block `height`


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    testnet = subparsers.add_parser(
        "testnet", help="run a local network of validators doing real transfers"
    )
    testnet.add_argument("--validators", type=int, default=4, metavar="N")
    testnet.add_argument("--duration", type=float, default=30.0, metavar="S")
    testnet.add_argument("--rate", type=float, default=200.0, help="transfers offered per second")
    testnet.add_argument("--dir", metavar="DIR", help="keep the network here (default: temp)")
    testnet.add_argument("--seed", type=int, default=None, help="seed of the transfer choice")
    testnet.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if not 1 <= args.validators <= 16:
        raise CommandError(f"--validators: expected 1..16, got {args.validators}")
    if args.duration <= 0 or args.rate <= 0:
        raise CommandError("--duration and --rate must be positive")
    with tempfile.TemporaryDirectory(prefix="depositnet-testnet-") as temporary:
        directory = Path(args.dir) if args.dir else Path(temporary) / "net"
        try:
            network = LocalNetwork(directory, validators=args.validators)
        except OSError as exc:
            raise CommandError(f"cannot write the testnet: {exc}") from None
        print(f"starting {args.validators} validators in {directory} ...", flush=True)
        with network:  # stops every validator, whatever happens (a Ctrl-C while starting too)
            try:
                network.start_all()
            except LocalNetworkError as exc:
                raise CommandError(str(exc)) from None
            try:
                return trio.run(_drive, network, args)
            except BaseException as exc:  # re-raised unless it is one line
                # Errors of tasks in nurseries arrive wrapped in exception groups.
                error = sole_error(exc)
                if isinstance(error, (CommandError, KeyboardInterrupt)):
                    raise error from None
                if isinstance(error, ClientError):
                    raise CommandError(f"the network did not answer as expected: {error}") from None
                raise


@attrs.define
class _Run:
    """How the run went, for the summary: an interrupted run still reports what it did."""

    load_start: float | None = None
    load_end: float | None = None
    interrupted: bool = False


async def _drive(network: LocalNetwork, args: argparse.Namespace) -> int:
    layout = network.layout
    rng = random.Random(args.seed)
    clients = [DepositClient([url], layout.genesis, timeout_s=10.0) for url in network.api_urls]
    everyone = DepositClient(list(network.api_urls), layout.genesis, timeout_s=10.0)
    stats, run = LoadStats(), _Run()
    agreement: Agreement | None = None
    try:
        # Ctrl-C stops the onboarding or the load, not the run: the validators keep running
        # (their own sessions do not get the terminal's SIGINT) until their agreement is
        # checked and the summary printed. A second Ctrl-C stops at once.
        with trio.open_signal_receiver(signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                load = trio.CancelScope()
                nursery.start_soon(_on_interrupt, signals, load, nursery.cancel_scope, run)
                with load:
                    await onboard(everyone, layout.roles, layout.participants)
                    stats.height = await everyone.latest_height()
                    stats.chain_time_ms = await everyone.chain_time_ms()
                    run.load_start = time.monotonic()
                    await _load_phase(clients, layout, stats, args, rng)
                run.load_end = time.monotonic()
                with trio.move_on_after(AGREEMENT_TIMEOUT_S):
                    agreement = await _check_agreement(clients)
                nursery.cancel_scope.cancel()
    finally:
        for client in [*clients, everyone]:
            await client.aclose()
    if agreement is None and run.interrupted:
        print("stopped before the validators' agreement was checked", flush=True)
        return 130
    _print_summary(stats, run, args, agreement)
    if run.interrupted:
        return 130
    return 0 if agreement is not None and agreement.ok else 1


async def _on_interrupt(
    signals: AsyncIterator[int], load: trio.CancelScope, everything: trio.CancelScope, run: _Run
) -> None:
    async for _ in signals:
        if run.interrupted:
            everything.cancel()
            return
        run.interrupted = True
        print(
            "\ninterrupted: stopping the load, checking agreement (Ctrl-C again to stop now)",
            flush=True,
        )
        load.cancel()


async def _load_phase(
    clients: Sequence[DepositClient],
    layout: TestnetLayout,
    stats: LoadStats,
    args: argparse.Namespace,
    rng: random.Random,
) -> None:
    """Offer the load while following blocks, then wait (a while) for what is in flight."""
    start = time.monotonic()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_follow_blocks, clients[0], stats)
        nursery.start_soon(_show_status, stats, start)
        await _offer_load(clients, layout.genesis.chain_id, layout, stats, args, rng)
        with trio.move_on_after(10):
            while stats.pending:
                await trio.sleep(0.1)
        nursery.cancel_scope.cancel()


async def onboard(
    client: DepositClient,
    roles: dict[str, Ed25519Signer],
    participants: dict[str, Ed25519Signer],
) -> None:
    """Register every demo participant and mint USD and EUR to each; wait for finality."""
    bodies: list[tuple[Ed25519Signer, Body]] = []
    for name, key in participants.items():
        bodies.append(
            (roles["compliance"], RegisterParticipant(key.public_key, name, KYC_EXPIRY_HEIGHT))
        )
    for name, key in participants.items():
        for code in ("USD", "EUR"):
            mint = Mint(key.public_key, code, ONBOARD_AMOUNT, f"deposit-{name}-{code}")
            bodies.append((roles[f"issuer-{code.lower()}"], mint))
    registrations = len(participants)

    async def final(signer: Ed25519Signer, body: Body) -> None:
        receipt = await client.sign_and_wait(signer, body, timeout_s=60)
        if receipt.code != "OK":
            raise CommandError(f"onboarding {type(body).__name__} failed with {receipt.code}")

    for phase in (bodies[:registrations], bodies[registrations:]):
        async with trio.open_nursery() as nursery:
            for signer, body in phase:
                nursery.start_soon(final, signer, body)
    print(
        f"onboarded {len(participants)} participants and minted "
        f"{ONBOARD_AMOUNT // 100:,} USD and EUR to each (receipts verified against genesis)",
        flush=True,
    )


async def _offer_load(
    clients: Sequence[DepositClient],
    chain_id: str,
    layout: TestnetLayout,
    stats: LoadStats,
    args: argparse.Namespace,
    rng: random.Random,
) -> None:
    """Sign transfers at `args.rate` per second and submit each tick's as one batch to a
    random validator (one HTTP request per tick, not per transfer)."""
    participants = list(layout.participants.values())
    window_ms = clients[0].genesis.limits.max_validity_window_ms
    deadline = time.monotonic() + args.duration
    owed = 0.0
    async with trio.open_nursery() as nursery:
        next_tick = time.monotonic()
        while next_tick < deadline:
            owed += args.rate * TICK_S
            batch: list[tuple[bytes, bytes]] = []
            while owed >= 1 and len(batch) < MAX_BATCH:
                owed -= 1
                sender, recipient = rng.sample(participants, 2)
                body = Transfer(
                    sender.public_key,
                    recipient.public_key,
                    rng.choice(("USD", "EUR")),
                    rng.randint(1, 10_000),
                )
                nonce = rng.randbytes(16)
                tx_id = derive_tx_id(sender.public_key, nonce)
                until = stats.chain_time_ms + window_ms // 2
                batch.append(
                    (tx_id, make_tx(sender, chain_id, body, nonce=nonce, valid_until_ms=until))
                )
            if batch:
                nursery.start_soon(_submit, rng.choice(clients), batch, stats)
            next_tick += TICK_S
            await trio.sleep(max(0.0, next_tick - time.monotonic()))


async def _submit(
    client: DepositClient, batch: Sequence[tuple[bytes, bytes]], stats: LoadStats
) -> None:
    submitted = time.monotonic()
    for tx_id, _ in batch:
        stats.pending[tx_id.hex()] = submitted
    stats.submitted += len(batch)
    try:
        verdicts = [
            v.code if not v.accepted else None
            for v in await client.submit_batch([tx for _, tx in batch])
        ]
    except ClientError as exc:
        verdicts = [f"UNREACHABLE ({type(exc).__name__})"] * len(batch)
    for (tx_id, _), code in zip(batch, verdicts, strict=True):
        if code is not None:
            stats.pending.pop(tx_id.hex(), None)
            stats.rejected[code] = stats.rejected.get(code, 0) + 1


async def _follow_blocks(client: DepositClient, stats: LoadStats) -> None:
    """Read every new block from one validator and time the transfers it commits."""
    while True:
        latest = await client.latest_height()
        while stats.height < latest:
            block = await client.block(stats.height + 1)
            now = time.monotonic()
            for tx in block.get("txs", []):
                submitted = stats.pending.pop(str(tx.get("tx_id")), None)
                if submitted is not None:
                    stats.committed += 1
                    stats.latencies_s.append(now - submitted)
                    stats.commit_times.append(now)
            stats.height += 1
            header = block.get("header")
            if isinstance(header, dict) and type(header.get("time_ms")) is int:
                stats.chain_time_ms = header["time_ms"]
        await trio.sleep(FOLLOW_POLL_S)


async def _show_status(stats: LoadStats, start: float) -> None:
    tty = sys.stdout.isatty()
    while True:
        await trio.sleep(1.0)
        now = time.monotonic()
        recent = sum(1 for t in stats.commit_times[-20_000:] if t > now - 5)
        rate = recent / min(5.0, now - start)
        tail = stats.latencies_s[-2_000:]
        p50 = percentile(tail, 0.5) * 1000 if tail else 0.0
        p99 = percentile(tail, 0.99) * 1000 if tail else 0.0
        line = (
            f"height {stats.height:>6} | committed {rate:7.1f} transfers/s | "
            f"finality p50 {p50:6.0f} ms p99 {p99:6.0f} ms | in flight {len(stats.pending):>5}"
        )
        print(f"\r{line}" if tty else line, end="" if tty else "\n", flush=True)


@attrs.frozen
class Agreement:
    """The validators' agreement at the end: `height` is the lowest of their latest heights
    (read one after the other, once the load stopped), and the block compared is the one at
    that height; the summary's `common height` line is this same number."""

    ok: bool
    height: int
    text: str


async def _check_agreement(clients: Sequence[DepositClient]) -> Agreement:
    heights = [await client.latest_height() for client in clients]
    common = min(heights)
    if common == 0:
        return Agreement(False, 0, "no block committed")
    ids = {(await client.block(common))["block_id"] for client in clients}
    if len(ids) != 1:
        return Agreement(False, common, f"DISAGREEMENT at height {common}: {sorted(ids)}")
    block_id = ids.pop()
    return Agreement(
        True,
        common,
        f"ok: all {len(clients)} validators hold block {common} = {block_id[:16]}... "
        f"(hash-chained, so blocks 1..{common} and their app hashes are identical)",
    )


def _print_summary(
    stats: LoadStats, run: _Run, args: argparse.Namespace, agreement: Agreement | None
) -> None:
    lat = stats.latencies_s
    elapsed = (
        (run.load_end or time.monotonic()) - run.load_start if run.load_start is not None else 0.0
    )
    print()
    ran = (
        f"{elapsed:.1f} s of transfers (interrupted; {args.duration:g} s were asked)"
        if run.interrupted
        else f"{args.duration:g} s of transfers"
    )
    print(f"depositnet testnet: {args.validators} validators, {ran}")
    print(f"  transfers submitted   {stats.submitted}")
    rejected = ", ".join(f"{code} {n}" for code, n in sorted(stats.rejected.items())) or "none"
    print(f"  rejected at submit    {rejected}")
    rate = f"  ({stats.committed / elapsed:.1f} per s)" if elapsed > 0 else ""
    print(f"  transfers committed   {stats.committed}{rate}")
    if lat:
        print(
            "  finality latency      "
            f"p50 {percentile(lat, 0.5) * 1000:.0f} ms  p99 {percentile(lat, 0.99) * 1000:.0f} ms  "
            f"max {max(lat) * 1000:.0f} ms"
        )
    print(f"  never seen committed  {len(stats.pending)}")
    if agreement is None:
        print("  agreement             not checked (the validators did not answer in time)")
        return
    print(f"  common height         {agreement.height}  (every validator holds blocks 1..it)")
    print(f"  agreement             {agreement.text}")
