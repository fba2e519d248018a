"""Small operator-facing lines of the CLI: a genesis error names its file once, a KYC expiry
of "no expiry" reads `never`, and `depositnet status` shows every validator it can find.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from consensus.crypto import Ed25519Signer
from depositnet.cli import main
from ledger.signing import make_tx
from ledger.tx import RegisterParticipant
from ledger.txcodec import from_wire
from network.localnet import LocalNetwork
from network.query_cli import KYC_FOREVER, kyc_expiry_text
from network.tx_kinds import summary

ENTRY = "import sys; from depositnet.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ('{"chain_id": "x", "bogus": 1}', "unknown field(s) bogus"),
        ("{", "not valid json"),
    ],
)
def test_a_genesis_error_names_the_file_once(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    document: str,
    problem: str,
) -> None:
    path = tmp_path / "genesis.json"
    path.write_text(document)
    monkeypatch.setenv("DEPOSITNET_GENESIS", str(path))
    monkeypatch.setenv("DEPOSITNET_JOURNAL", str(tmp_path / "journal"))
    assert main(["tx", "status", "nothing"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"depositnet: error: genesis file {path}: "), err
    assert problem in err and "genesis: " not in err and err.count(str(path)) == 1, err


def test_no_kyc_expiry_reads_never() -> None:
    assert kyc_expiry_text(KYC_FOREVER) == "never"
    assert kyc_expiry_text(2**64 - 1) == "never"  # the largest a genesis may hold
    assert kyc_expiry_text(1234) == "1234"
    assert kyc_expiry_text(None) == "-"
    signer = Ed25519Signer.generate()
    body = RegisterParticipant(Ed25519Signer.generate().public_key, "acme", KYC_FOREVER)
    line = summary(from_wire(make_tx(signer, "c", body, nonce=b"\0" * 16, valid_until_ms=1)))
    assert "kyc_expiry_height=never" in line and str(KYC_FOREVER) not in line, line


def test_status_shows_every_validator_of_a_testnet_from_its_genesis(tmp_path: Path) -> None:
    """Only DEPOSITNET_GENESIS is set: the configs beside it give every API address. One
    validator runs, one is stopped (unreachable), one has no config left (no address)."""
    with LocalNetwork(tmp_path / "net", validators=3) as network:
        network.start(0)
        (network.layout.directory / "node2.toml").unlink()
        env = {k: v for k, v in os.environ.items() if k != "DEPOSITNET_NODE"}
        env["DEPOSITNET_GENESIS"] = os.fspath(network.genesis_path)
        result = subprocess.run(
            [sys.executable, "-c", ENTRY, "status", "--timeout", "5"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    rows = result.stdout.split("\n\n")[0].splitlines()[2:]
    assert len(rows) == 3, result.stdout
    urls = network.api_urls
    assert rows[0].split()[:2] == [urls[0], "bank-0"], rows
    assert rows[1].split()[:3] == [urls[1], "bank-1", "unreachable"], rows
    assert rows[2].split()[:5] == ["(no", "API", "address", "known)", "bank-2"], rows
