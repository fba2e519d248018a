from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from consensus.crypto import Ed25519Signer
from depositnet.cli import main
from network.keys import KeyFileError, decode_key, encode_key, generate_key, load_key, write_key

SIGNER = Ed25519Signer(b"\x05" * 32)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_key_is_private_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    write_key(path, SIGNER)
    assert mode_of(path) == 0o600
    loaded = load_key(path)
    assert loaded.public_key == SIGNER.public_key and loaded.seed == SIGNER.seed
    assert [p.name for p in tmp_path.iterdir()] == ["node.key"]  # no temporary left behind


def test_existing_key_is_not_overwritten_without_force(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    first = generate_key(path)
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key(path)
    assert load_key(path).public_key == first.public_key
    second = generate_key(path, force=True)
    assert load_key(path).public_key == second.public_key != first.public_key
    assert mode_of(path) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o660])
def test_key_file_accessible_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "node.key"
    write_key(path, SIGNER)
    path.chmod(mode)
    with pytest.raises(KeyFileError, match=f"permissions {mode:04o}.*chmod 600"):
        load_key(path)


def test_owner_only_modes_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    write_key(path, SIGNER)
    path.chmod(0o400)
    assert load_key(path).public_key == SIGNER.public_key


def test_missing_directory_symlink_and_non_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        write_key(tmp_path / "nope" / "node.key", SIGNER)
    with pytest.raises(KeyFileError, match="no such key file"):
        load_key(tmp_path / "absent.key")
    real = tmp_path / "real.key"
    write_key(real, SIGNER)
    link = tmp_path / "link.key"
    link.symlink_to(real)
    with pytest.raises(KeyFileError, match="cannot open"):
        load_key(link)
    directory = tmp_path / "dir.key"
    directory.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_key(directory)


def _document(**changes: object) -> bytes:
    document = json.loads(encode_key(SIGNER))
    document.update(changes)
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe", "not a depositnet key file"),
        (b"[1, 2]", "not a depositnet key file"),
        (b'{"chain_id": "x", "validators": []}', "not a depositnet key file .*keys generate"),
        (_document(type="ssh-rsa"), "type"),
        (_document(version=2), "version"),
        (_document(version=True), "version"),
        (_document(seed=None), "seed: expected a hex string"),
        (_document(seed="zz" * 32), "seed: not valid hex"),
        (_document(seed="ab" * 31), "seed: expected 32 bytes, got 31"),
        (_document(public_key="00" * 32), "public_key does not match the seed"),
        (_document(comment="hi"), "unknown field 'comment'"),
    ],
)
def test_malformed_key_files_name_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        decode_key(data, "k")


def test_oversized_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.key"
    path.write_bytes(b" " * 5000)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="too large"):
        load_key(path)


def test_cli_generate_then_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "validator.key"
    assert main(["keys", "generate", "--out", str(path)]) == 0
    public_hex = capsys.readouterr().out.strip()
    assert mode_of(path) == 0o600
    assert load_key(path).public_key.hex() == public_hex
    assert main(["keys", "show", str(path)]) == 0
    assert capsys.readouterr().out.strip() == public_hex


def test_cli_refuses_overwrite_and_open_permissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "validator.key"
    assert main(["keys", "generate", "--out", str(path)]) == 0
    capsys.readouterr()
    assert main(["keys", "generate", "--out", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["keys", "generate", "--out", str(path), "--force"]) == 0
    capsys.readouterr()
    os.chmod(path, 0o644)
    assert main(["keys", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("depositnet: error:") and "chmod 600" in err


def test_cli_names_a_readable_non_key_file_as_not_a_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A genesis passed where a key belongs (mode 0644): one line saying it is no key file,
    not a permissions complaint nor its first unexpected field."""
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps({"chain_id": "depositnet-local", "validators": []}))
    os.chmod(path, 0o644)
    assert main(["keys", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("depositnet: error:"), err
    assert f"{path}: not a depositnet key file" in err and "keys generate" in err
    assert "permissions" not in err and "chain_id" not in err
    assert "Traceback" not in err
