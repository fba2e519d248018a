"""Static checks: everything decided by a transaction's bytes, the block time and the chain rules.

A transaction failing any of these can never be in a valid block, so the mempool refuses it
and `validate_block_txs` refuses a block holding it. Cheap checks run first (size, decoding,
chain id, fields, window) and the signature last. `VerifiedTxCache` remembers transactions
that passed every height-independent check including the signature, keyed by their bytes,
so each validator verifies a transaction's signature at most once: in the mempool, or
when it first sees the block that carries it. The cache is bounded (oldest entries go first).
Keying by the bytes themselves costs no digest: Python caches a bytes object's hash, and the
mempool and the block hold the same objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from consensus.crypto import SignatureScheme
from ledger.codes import Code
from ledger.genesis import Limits
from ledger.tx import Transfer
from ledger.txcodec import DecodedTx, TxDecodeError, decode_tx


class StaticRejection(Exception):
    """A transaction that no valid block may hold; `code` is stable."""

    def __init__(self, code: Code, message: str, tx_id: bytes = b"", index: int = -1) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.tx_id = tx_id
        self.index = index  # position in the block, when checking several


def check_fields(dtx: DecodedTx, chain_id: str, limits: Limits) -> None:
    """Chain id and per-kind rules that need the genesis limits (raises StaticRejection)."""
    tx = dtx.tx
    if dtx.size > limits.max_tx_bytes:
        raise StaticRejection(
            Code.TX_TOO_LARGE, f"{dtx.size} bytes > {limits.max_tx_bytes}", tx.tx_id
        )
    if tx.chain_id != chain_id:
        raise StaticRejection(
            Code.WRONG_CHAIN, f"signed for chain {tx.chain_id!r}, this is {chain_id!r}", tx.tx_id
        )
    body = tx.body
    if isinstance(body, Transfer):
        if body.sender != tx.signer:
            raise StaticRejection(Code.NOT_OWNER, "only the sender may sign a transfer", tx.tx_id)
        if body.sender == body.recipient:
            raise StaticRejection(Code.SELF_TRANSFER, "sender and recipient are the same", tx.tx_id)
        memo_bytes = len(body.memo.encode("utf-8"))
        if memo_bytes > limits.max_memo_bytes:
            raise StaticRejection(
                Code.MEMO_TOO_LARGE,
                f"memo is {memo_bytes} bytes > {limits.max_memo_bytes}",
                tx.tx_id,
            )


def check_window(dtx: DecodedTx, time_ms: int, window_ms: int) -> None:
    """`time_ms <= valid_until_ms <= time_ms + window_ms`, else EXPIRED / TOO_FAR_AHEAD.

    `time_ms` is a block's time (or, at admission, the time a block would have now)."""
    until = dtx.tx.valid_until_ms
    if until < time_ms:
        raise StaticRejection(
            Code.EXPIRED, f"valid until {until} ms, chain time is {time_ms} ms", dtx.tx.tx_id
        )
    if until > time_ms + window_ms:
        raise StaticRejection(
            Code.TOO_FAR_AHEAD,
            f"valid until {until} ms is more than {window_ms} ms after {time_ms} ms",
            dtx.tx.tx_id,
        )


class VerifiedTxCache:
    """Transactions that passed decoding, field checks and the signature, by hash of bytes."""

    def __init__(
        self, scheme: SignatureScheme, chain_id: str, limits: Limits, capacity: int = 100_000
    ) -> None:
        assert capacity > 0
        self._scheme = scheme
        self._chain_id = chain_id
        self._limits = limits
        self._capacity = capacity
        self._entries: dict[bytes, DecodedTx] = {}  # wire bytes -> decoded
        self.verifications = 0  # signatures checked so far (tests assert "at most once")

    def __len__(self) -> int:
        return len(self._entries)

    def _decode(self, tx: bytes) -> DecodedTx:
        if type(tx) is not bytes:
            raise StaticRejection(Code.WRONG_TYPE, "a transaction is bytes")
        if len(tx) > self._limits.max_tx_bytes:
            raise StaticRejection(
                Code.TX_TOO_LARGE, f"{len(tx)} bytes > {self._limits.max_tx_bytes}"
            )
        try:
            dtx = decode_tx(tx)
        except TxDecodeError as exc:
            raise StaticRejection(exc.code, exc.message) from None
        check_fields(dtx, self._chain_id, self._limits)
        return dtx

    def _remember(self, key: bytes, dtx: DecodedTx) -> None:
        if len(self._entries) >= self._capacity:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = dtx

    def forget(self, txs: Iterable[bytes]) -> None:
        """Drop committed transactions: nothing will ask about them again, so memory stays
        proportional to what is pending, not to everything seen in the last 100,000."""
        entries = self._entries
        for tx in txs:
            entries.pop(tx, None)

    def check(self, tx: bytes) -> DecodedTx:
        """Decode and fully check one transaction (cached); raises StaticRejection.

        The mempool's path, once per gossiped or submitted transaction: no batch plumbing."""
        cached = self._entries.get(tx) if type(tx) is bytes else None
        if cached is not None:
            return cached
        dtx = self._decode(tx)
        self.verifications += 1
        if not self._signature_ok(dtx):
            raise StaticRejection(Code.BAD_SIGNATURE, "the signature does not verify", dtx.tx.tx_id)
        self._remember(tx, dtx)
        return dtx

    def preverify(self, txs: Sequence[bytes]) -> list[tuple[bytes, DecodedTx]]:
        """Decode and verify `txs` WITHOUT touching the cache: the ones that pass every check,
        for `absorb`. Safe in a worker thread (it only reads); the node runs it there so a
        gossiped batch's signature checks (pynacl releases the GIL) overlap consensus work."""
        out: list[tuple[bytes, DecodedTx]] = []
        for tx in txs:
            if type(tx) is not bytes or tx in self._entries:
                continue
            try:
                dtx = self._decode(tx)
            except StaticRejection:
                continue  # the replica refuses it again, with the code, on the event loop
            if self._signature_ok(dtx):
                out.append((tx, dtx))
        return out

    def absorb(self, verified: Iterable[tuple[bytes, DecodedTx]]) -> None:
        """Remember what `preverify` accepted (on the cache's own thread)."""
        for tx, dtx in verified:
            if tx not in self._entries:
                self.verifications += 1
                self._remember(tx, dtx)

    def check_many(self, txs: Sequence[bytes]) -> list[DecodedTx]:
        """Check several; signatures not yet cached are verified together (batchable).

        Raises StaticRejection (with `.index` set) for a bad one: decoding and field errors
        first, then bad signatures, each in block order."""
        out: list[DecodedTx | None] = []
        todo: list[tuple[int, bytes, DecodedTx]] = []
        entries = self._entries
        for index, tx in enumerate(txs):
            cached = entries.get(tx) if type(tx) is bytes else None
            if cached is not None:
                out.append(cached)
                continue
            try:
                dtx = self._decode(tx)
            except StaticRejection as exc:
                exc.index = index
                raise
            out.append(None)
            todo.append((index, tx, dtx))
        verdicts = self._verify([dtx for _, _, dtx in todo])
        for (index, key, dtx), ok in zip(todo, verdicts, strict=True):
            if not ok:
                raise StaticRejection(
                    Code.BAD_SIGNATURE, "the signature does not verify", dtx.tx.tx_id, index
                )
            self._remember(key, dtx)
            out[index] = dtx
        return [d for d in out if d is not None]

    def _verify(self, dtxs: list[DecodedTx]) -> list[bool]:
        self.verifications += len(dtxs)
        batch = getattr(self._scheme, "verify_batch", None)
        if batch is not None and len(dtxs) > 1:
            return list(batch([(d.tx.signer, d.sign_bytes, d.tx.signature) for d in dtxs]))
        return [self._signature_ok(d) for d in dtxs]

    def _signature_ok(self, dtx: DecodedTx) -> bool:
        signed = dtx.tx
        return self._scheme.verify(signed.signer, dtx.sign_bytes, signed.signature)
