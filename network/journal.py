"""The CLI's journal: every transaction it signs, kept on disk before it is sent.

Why: a payment must be retried by re-sending the bytes that were signed, never by signing
again (a second signature with a fresh nonce is a second payment). A CLI process can die or
lose its answer at any moment, so the bytes must outlive it: `depositnet tx ...` writes each
signed transaction here, keyed by its tx id, before the first byte goes to a validator. Asked
for the same transaction again (`--tx-id X` with the same body), it finds the entry and
re-sends those bytes; asked for a different body under a used X, it refuses and names the
first transaction.

One small JSON file per tx id (`<tx_id hex>.json`), written atomically (a temporary file in
the same directory, synced, then renamed over the old one, and the directory synced), mode
0600 in a directory of mode 0700: the entries are signed payment instructions. The directory
is `--journal DIR`, else `$DEPOSITNET_JOURNAL`, else `~/.depositnet/journal/`.

`--tx-id X` is any short text the user picks (an invoice number, say). The nonce derives
from it, `blake2b-128(tag || len(chain_id) as 2 bytes || chain_id || X)`, so the same X names
the same tx id for the same signer on the same chain, and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import attrs

from ledger.tx import NONCE_SIZE, TX_ID_SIZE

JOURNAL_ENV = "DEPOSITNET_JOURNAL"
DEFAULT_DIR = Path("~/.depositnet/journal")
ENTRY_VERSION = 1
MAX_LABEL_CHARS = 128
MAX_ENTRY_BYTES = 1 << 21  # a transaction is at most 1 MiB, twice that in hex
_NONCE_TAG = b"depositnet/cli-tx-id/v1\x00"


class JournalError(Exception):
    """The journal cannot be read or written; the message is one line naming the file."""


def nonce_for(chain_id: str, label: str) -> bytes:
    """The nonce a `--tx-id` text stands for (see the module docstring)."""
    chain = chain_id.encode("utf-8")
    data = _NONCE_TAG + len(chain).to_bytes(2, "big") + chain + label.encode("utf-8")
    return hashlib.blake2b(data, digest_size=NONCE_SIZE).digest()


def check_label(text: str) -> str:
    """A `--tx-id` text: 1..128 printable characters; ValueError saying what is wrong."""
    if not 1 <= len(text) <= MAX_LABEL_CHARS:
        raise ValueError(f"a tx id is 1 to {MAX_LABEL_CHARS} characters")
    if not text.isprintable() or text != text.strip():
        raise ValueError("a tx id is printable text without leading or trailing spaces")
    return text


@attrs.frozen
class Entry:
    """One journaled transaction."""

    tx_id: bytes
    chain_id: str
    tx: bytes  # the signed bytes: what every retry sends
    created_ms: int
    label: str | None = None  # the --tx-id text, if one was given
    receipt: bytes | None = None  # once verified: the receipt of `tx`
    expired_at_height: int | None = None  # proven expired there (then it may be signed anew)
    superseded: tuple[bytes, ...] = ()  # earlier signed bytes of this id, all proven expired

    def to_json(self) -> dict[str, Any]:
        return {
            "version": ENTRY_VERSION,
            "tx_id": self.tx_id.hex(),
            "chain_id": self.chain_id,
            "tx": self.tx.hex(),
            "created_ms": self.created_ms,
            "label": self.label,
            "receipt": None if self.receipt is None else self.receipt.hex(),
            "expired_at_height": self.expired_at_height,
            "superseded": [tx.hex() for tx in self.superseded],
        }

    @classmethod
    def from_json(cls, value: object) -> Entry:
        """ValueError if `value` is not an entry."""
        if not isinstance(value, dict) or value.get("version") != ENTRY_VERSION:
            raise ValueError(f"not a version {ENTRY_VERSION} journal entry")
        try:
            receipt, label, expired = value["receipt"], value["label"], value["expired_at_height"]
            entry = cls(
                tx_id=bytes.fromhex(value["tx_id"]),
                chain_id=value["chain_id"],
                tx=bytes.fromhex(value["tx"]),
                created_ms=value["created_ms"],
                label=label,
                receipt=None if receipt is None else bytes.fromhex(receipt),
                expired_at_height=expired,
                superseded=tuple(bytes.fromhex(t) for t in value["superseded"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed journal entry ({type(exc).__name__}: {exc})") from None
        if (
            len(entry.tx_id) != TX_ID_SIZE
            or type(entry.chain_id) is not str
            or type(entry.created_ms) is not int
            or not (entry.label is None or type(entry.label) is str)
            or not (entry.expired_at_height is None or type(entry.expired_at_height) is int)
        ):
            raise ValueError("malformed journal entry (a field has the wrong type)")
        return entry


def journal_dir(option: str | None) -> Path:
    """The journal directory: `--journal`, else $DEPOSITNET_JOURNAL, else the default."""
    chosen = option or os.environ.get(JOURNAL_ENV) or str(DEFAULT_DIR)
    return Path(chosen).expanduser()


class Journal:
    """The entries of one directory (created, mode 0700, on the first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, tx_id: bytes) -> Path:
        return self.directory / f"{tx_id.hex()}.json"

    def load(self, tx_id: bytes) -> Entry | None:
        path = self.path(tx_id)
        try:
            with path.open("rb") as f:
                data = f.read(MAX_ENTRY_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise JournalError(f"journal entry {path}: {exc.strerror or exc}") from None
        try:
            if len(data) > MAX_ENTRY_BYTES:
                raise ValueError("too large")
            entry = Entry.from_json(json.loads(data))
        except ValueError as exc:
            raise JournalError(f"journal entry {path} is damaged: {exc}") from None
        if entry.tx_id != tx_id:
            raise JournalError(f"journal entry {path} holds tx {entry.tx_id.hex()}")
        return entry

    def entries(self) -> list[Entry]:
        """Every readable entry (damaged ones are skipped: `load` names them)."""
        try:
            names = sorted(p.name for p in self.directory.iterdir() if p.suffix == ".json")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise JournalError(f"journal {self.directory}: {exc.strerror or exc}") from None
        found = []
        for name in names:
            try:
                tx_id = bytes.fromhex(name.removesuffix(".json"))
                entry = self.load(tx_id) if len(tx_id) == TX_ID_SIZE else None
            except (ValueError, JournalError):
                continue
            if entry is not None:
                found.append(entry)
        return found

    def save(self, entry: Entry) -> Path:
        """Write `entry` atomically and durably (see the module docstring)."""
        path = self.path(entry.tx_id)
        data = json.dumps(entry.to_json(), indent=1, sort_keys=True).encode() + b"\n"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()  # left by a process of the same pid that died mid-write
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            why = exc.strerror or exc
            raise JournalError(f"cannot write journal entry {path}: {why}") from None
        return path
