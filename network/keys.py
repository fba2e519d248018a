"""Node key files: an Ed25519 seed on disk that only its owner can read.

Format: a small JSON object,
`{"type": "depositnet-ed25519-key", "version": 1, "public_key": <hex>, "seed": <hex>}`.
The public key is stored beside the seed so a human can tell keys apart, and is checked
against the seed on load (a hand-edited file that mixes up two keys is refused).

Writing is atomic (a temporary file created with mode 0600 in the same directory, synced, then
renamed or linked into place), so a crash never leaves half a key. Loading refuses any file
that group or others may read or write, any file that is not a regular file, and any file over
`MAX_KEY_FILE_BYTES`. Every failure is a `KeyFileError` naming the file and the problem.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

from consensus.crypto import Ed25519Signer

KEY_TYPE = "depositnet-ed25519-key"
KEY_VERSION = 1
MAX_KEY_FILE_BYTES = 4096
FILE_MODE = 0o600
NOT_A_KEY_FILE = (
    "not a depositnet key file (a key file is the small JSON object with type, version, "
    "public_key and seed that `depositnet keys generate` writes, mode 0600)"
)


class KeyFileError(ValueError):
    """A key file that cannot be written or must not be used."""


def encode_key(signer: Ed25519Signer) -> bytes:
    """The key file contents for `signer`."""
    document = {
        "type": KEY_TYPE,
        "version": KEY_VERSION,
        "public_key": signer.public_key.hex(),
        "seed": signer.seed.hex(),
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def decode_key(data: bytes, source: str = "key file") -> Ed25519Signer:
    """Parse key file contents, checking every field; `source` names the file in errors."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        document = None
    # Something else entirely (a genesis, a config): say so, rather than name its first
    # unexpected field as if it were a damaged key file.
    if not isinstance(document, dict) or (
        document.get("type") != KEY_TYPE and "seed" not in document
    ):
        raise KeyFileError(f"{source}: {NOT_A_KEY_FILE}")
    unknown = sorted(set(document) - {"type", "version", "public_key", "seed"})
    if unknown:
        raise KeyFileError(f"{source}: unknown field {unknown[0]!r}")
    if document.get("type") != KEY_TYPE:
        raise KeyFileError(f"{source}: type: expected {KEY_TYPE!r}")
    version = document.get("version")
    if type(version) is not int or version != KEY_VERSION:
        raise KeyFileError(f"{source}: version: expected {KEY_VERSION}, got {version!r}")
    seed = _hex32(document.get("seed"), f"{source}: seed")
    public_key = _hex32(document.get("public_key"), f"{source}: public_key")
    signer = Ed25519Signer(seed)
    if signer.public_key != public_key:
        raise KeyFileError(f"{source}: public_key does not match the seed")
    return signer


def write_key(path: str | os.PathLike[str], signer: Ed25519Signer, *, force: bool = False) -> None:
    """Write `signer` to `path` with mode 0600, atomically; refuse to overwrite unless `force`."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise KeyFileError(f"{target}: directory {directory} does not exist")
    if target.exists() and not force:
        raise KeyFileError(f"{target}: already exists (use --force to replace it)")
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(encode_key(signer))
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(temporary, target)
        else:
            try:
                os.link(temporary, target)  # fails if something appeared meanwhile
            except FileExistsError:
                raise KeyFileError(f"{target}: already exists") from None
            os.unlink(temporary)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    _sync_directory(directory)


def generate_key(path: str | os.PathLike[str], *, force: bool = False) -> Ed25519Signer:
    """Create a fresh key, write it to `path`, and return it."""
    signer = Ed25519Signer.generate()
    write_key(path, signer, force=force)
    return signer


def load_key(path: str | os.PathLike[str]) -> Ed25519Signer:
    """Read the key at `path`, refusing files that others could read or that are malformed."""
    target = Path(path)
    try:
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise KeyFileError(f"{target}: no such key file") from None
    except OSError as exc:
        raise KeyFileError(f"{target}: cannot open ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"{target}: not a regular file")
        if info.st_size > MAX_KEY_FILE_BYTES:
            raise KeyFileError(f"{target}: {info.st_size} bytes, too large for a key file")
        data = os.read(fd, MAX_KEY_FILE_BYTES + 1)
    finally:
        os.close(fd)
    signer = decode_key(data, str(target))  # first: a file that is no key is named as such
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"{target}: permissions {mode:04o} let group or others access the key; "
            f"run `chmod 600 {target}`"
        )
    return signer


def _hex32(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise KeyFileError(f"{field}: expected a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise KeyFileError(f"{field}: not valid hex") from None
    if len(raw) != 32:
        raise KeyFileError(f"{field}: expected 32 bytes, got {len(raw)}")
    return raw


def _sync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
