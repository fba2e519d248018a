"""`depositnet tx|account|block|status` end to end, as subprocesses talking HTTP.

The first tests run against FakeChain validators served in this process (always available);
`test_cli_against_local_network` runs the same flow against the real 4-validator network of
`tests/network/conftest.py` (skipped only while that fixture module does not exist).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest
import trio

from consensus.crypto import Ed25519Signer
from depositnet.cli import main
from ledger.genesis import Genesis
from network.keys import write_key
from tests.network.apifake import ALICE, BOB, COMPLIANCE, ISSUER, FakeChain, FakeNode, serve_node

HAVE_NETWORK = importlib.util.find_spec("tests.network.conftest") is not None
DEAD_URL = "http://127.0.0.1:9"
JOURNAL_ENV = {"DEPOSITNET_JOURNAL": "/nonexistent/never-written"}
"""For runs that fail before signing: a journal they must not (and cannot) write."""
ENTRY = "import sys; from depositnet.cli import main; sys.exit(main(sys.argv[1:]))"
"""What the `depositnet` console script runs (`python -m depositnet.cli` would load the module
twice, as __main__ and as depositnet.cli, and so not catch CommandError from feature modules)."""


async def depositnet(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the CLI in a subprocess; (exit status, stdout, stderr)."""
    result = await trio.run_process(
        [sys.executable, "-c", ENTRY, *args],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def write_setup(tmp: Path, genesis: Genesis, signers: dict[str, Ed25519Signer]) -> dict[str, str]:
    paths = {}
    for name, signer in signers.items():
        path = tmp / f"{name}.key"
        write_key(path, signer)
        paths[name] = str(path)
    genesis_path = tmp / "genesis.json"
    genesis_path.write_text(json.dumps(genesis.to_mapping()))
    paths["genesis"] = str(genesis_path)
    return paths


def assert_one_line_error(status: int, err: str, fragment: str) -> None:
    assert status == 2, (fragment, err)
    assert err.count("\n") == 1 and err.startswith("depositnet: error: "), err
    assert "Traceback" not in err
    assert fragment in err, err


def chain_kinds(chain: FakeChain) -> list[str]:
    from network.api_render import block_json

    return [t["kind"] for b in chain.blocks.values() for t in block_json(b)["txs"]]


async def committer(chain: FakeChain) -> None:
    while True:
        await trio.sleep(0.02)
        if len(chain.mempool):
            chain.commit()


async def test_cli_money_flow_and_queries_against_fake_validators(nursery, tmp_path) -> None:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain))
    nursery.start_soon(committer, chain)
    keys = write_setup(
        tmp_path,
        chain.genesis,
        {"compliance": COMPLIANCE, "issuer": ISSUER, "alice": ALICE, "bob": BOB},
    )
    env = {
        "DEPOSITNET_GENESIS": keys["genesis"],
        "DEPOSITNET_NODE": f"{DEAD_URL},{url}",
        "DEPOSITNET_JOURNAL": str(tmp_path / "journal"),
    }

    async def tx(*args: str) -> str:
        status, out, err = await depositnet("tx", *args, "--wait", env=env)
        assert status == 0, (args, out, err)
        assert re.search(r"final at height \d+ \(index 0\), outcome OK, receipt verified", out)
        return out

    await tx("register", keys["alice"], "alice", "--key", keys["compliance"])
    await tx("register", keys["bob"], "bob", "--key", keys["compliance"])
    await tx("mint", keys["alice"], "USD", "10000", "dep-1", "--key", keys["issuer"])
    out = await tx("transfer", keys["bob"], "USD", "2500", "--memo", "rent", "--key", keys["alice"])
    assert "signed, journaled in " + str(tmp_path / "journal") in out

    status, out, err = await depositnet(
        "tx", "redeem", "USD", "500", "--key", keys["bob"], "--json", "--wait", env=env
    )
    assert status == 0, err
    redeem = json.loads(out)
    assert redeem["final"] is True and redeem["outcome"] == "OK" and redeem["certified_power"] == 40
    await tx("settle", redeem["tx_id"], "payout-1", "--key", keys["issuer"])

    status, out, err = await depositnet("account", keys["bob"], env=env)
    assert status == 0, err
    assert re.search(r"balance USD +2000", out) and re.search(r"registered +yes", out)
    assert re.search(r"kyc expiry height +never\n", out), out  # the default: no expiry
    status, out, _ = await depositnet("account", ALICE.public_key.hex(), "--json", "--node", url)
    assert json.loads(out)["balances"] == {"USD": 7500}
    assert "SETTLE_REDEMPTION" in chain_kinds(chain)

    status, out, err = await depositnet("block", "1", env=env)
    assert status == 0 and "block id" in out and "REGISTER_PARTICIPANT" in out, out + err

    status, out, err = await depositnet("status", "--node", url, "--node", DEAD_URL)
    assert status == 0, err
    lines = out.splitlines()
    header = ["node", "validator", "height", "round", "step", "peers", "sync", "mempool"]
    assert lines[0].split() == header
    assert url in lines[2] and "in sync" in lines[2]
    assert DEAD_URL in lines[3] and "unreachable" in lines[3]
    assert "chain fake-chain: 4 validators, total power 40" in out

    # a failing outcome is final, reported, and exits 1
    status, out, err = await depositnet(
        "tx", "transfer", keys["bob"], "USD", "999999", "--key", keys["alice"], "--wait", env=env
    )
    assert status == 1 and "outcome INSUFFICIENT_FUNDS" in out
    assert "committed with INSUFFICIENT_FUNDS" in err


async def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the CLI's `main` in a worker thread (it calls trio.run); (status, stderr)."""
    status = await trio.to_thread.run_sync(main, list(args))
    return status, capsys.readouterr().err


async def test_cli_errors_are_one_clear_line(nursery, tmp_path, capsys, monkeypatch) -> None:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain))
    keys = write_setup(tmp_path, chain.genesis, {"alice": ALICE})
    monkeypatch.setenv("DEPOSITNET_GENESIS", keys["genesis"])
    monkeypatch.setenv("DEPOSITNET_NODE", url)
    monkeypatch.setenv("DEPOSITNET_JOURNAL", str(tmp_path / "journal"))
    cases = [
        (("tx", "redeem", "USD", "5", "--key", str(tmp_path / "missing.key")), "no such key file"),
        (
            ("tx", "transfer", keys["alice"], "USD", "5", "--key", keys["alice"]),
            "rejected: SELF_TRANSFER",
        ),
        (("tx", "transfer", "nobody", "USD", "5", "--key", keys["alice"]), "neither a 64-hex"),
        (
            ("tx", "redeem", "USD", "5", "--key", keys["alice"], "--genesis", keys["alice"]),
            "genesis",
        ),
        (("account", "12zz"), "neither a 64-hex"),
        (("account", ALICE.public_key.hex(), "--node", "ftp://x"), "http://"),
        (("block", "99"), "NOT_FOUND"),
        (("block", "-3"), "expected a number"),
        (("tx", "status", "nothing-here"), "no journaled transaction 'nothing-here'"),
        (
            ("tx", "redeem", "USD", "5", "--key", keys["alice"], "--journal", keys["alice"]),
            "Not a directory",
        ),
        (("receipt", "verify", keys["alice"]), "the receipt proves nothing"),
        (("receipt", "verify", str(tmp_path / "missing")), "cannot read"),
    ]
    for args, fragment in cases:
        status, err = await in_process(capsys, *args)
        assert_one_line_error(status, err, fragment)
    monkeypatch.setenv("DEPOSITNET_NODE", "")
    assert_one_line_error(*await in_process(capsys, "status"), "--node")
    # and through a real subprocess: the console entry point prints one line, no traceback
    status, _out, err = await depositnet(
        "tx", "redeem", "USD", "5", "--key", keys["alice"], "--node", DEAD_URL, env=JOURNAL_ENV
    )
    assert_one_line_error(status, err, "no verified header")
    status, _out, err = await depositnet(
        "tx", "mint", ALICE.public_key.hex(), "USD", "1.50", "dep", "--key", keys["alice"]
    )
    assert status == 2 and "positive whole number of minor units" in err
    assert "Traceback" not in err
    status, _out, err = await depositnet(
        "tx", "redeem", "USD", "5", "--key", keys["alice"], "--tx-id", " padded", env=JOURNAL_ENV
    )
    assert status == 2 and "--tx-id ' padded': a tx id is printable text" in err


@pytest.mark.skipif(not HAVE_NETWORK, reason="tests/network/conftest.py (local_network) missing")
async def test_cli_against_local_network(local_network, tmp_path) -> None:
    from tests.network.test_client_e2e import role_keys

    genesis = local_network.genesis
    roles = role_keys(local_network)
    alice, bob = Ed25519Signer(b"\x0a" * 32), Ed25519Signer(b"\x0b" * 32)
    keys = write_setup(tmp_path, genesis, {"alice": alice, "bob": bob, **roles})
    env = {
        "DEPOSITNET_GENESIS": str(local_network.genesis_path),
        "DEPOSITNET_NODE": ",".join(local_network.api_urls),
        "DEPOSITNET_JOURNAL": str(tmp_path / "journal"),
    }
    currency = genesis.currencies[0].code
    steps = [
        ("register", keys["alice"], "alice", "--key", keys["compliance"]),
        ("register", keys["bob"], "bob", "--key", keys["compliance"]),
        (
            "set-allowance",
            roles["issuer"].public_key.hex(),
            currency,
            "1000000000",
            "--key",
            keys["governor"],
        ),
        ("mint", keys["alice"], currency, "10000", "cli-dep-1", "--key", keys["issuer"]),
        ("transfer", keys["bob"], currency, "2500", "--key", keys["alice"]),
    ]
    for step in steps:
        status, out, err = await depositnet("tx", *step, "--wait", "--wait-timeout", "30", env=env)
        assert status == 0, (step, out, err)
        assert "outcome OK, receipt verified" in out
    status, out, err = await depositnet("account", keys["bob"], "--json", env=env)
    assert json.loads(out)["balances"] == {currency: 2500}
    status, out, err = await depositnet("status", env=env)
    assert status == 0 and out.count("in sync") + out.count("catching up") == 4, out
