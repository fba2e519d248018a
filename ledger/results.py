"""A transaction's result as the header's results root commits to it.

Why a separate, tiny encoding: the results root is what lets a client check an outcome from a
certified header without trusting the validator that served it, so the leaf must hold exactly
what a client relies on and nothing that could change between versions. It holds the tx_id
(so a leaf names its transaction) and the stable result code; messages are human wording, kept
out of every root. The leaf of transaction i of a block is leaf i of the results tree, as the
transaction is leaf i of the transactions tree.

    leaf = canonical msgpack [tx_id: bin16, code: str]
"""

from __future__ import annotations

import attrs
import msgpack

from ledger.codes import Code
from ledger.tx import TX_ID_SIZE

_CODES = frozenset(code.value for code in Code)
MAX_RESULT_LEAF_BYTES = 64


class ResultDecodeError(ValueError):
    """Bytes that are not a canonical result leaf."""


@attrs.frozen
class ResultLeaf:
    tx_id: bytes
    code: str

    def encode(self) -> bytes:
        return encode_result(self.tx_id, self.code)


def encode_result(tx_id: bytes, code: str) -> bytes:
    return msgpack.packb([tx_id, code], use_bin_type=True)


def decode_result(raw: bytes) -> ResultLeaf:
    """Decode a leaf, refusing anything non-canonical or with an unknown code."""
    if type(raw) is not bytes or not 0 < len(raw) <= MAX_RESULT_LEAF_BYTES:
        raise ResultDecodeError("a result leaf is 1..64 bytes")
    try:
        value = msgpack.unpackb(raw, raw=False, use_list=True)
    except Exception as exc:  # garbage in any of msgpack's many ways
        raise ResultDecodeError(f"not msgpack ({exc})") from None
    if (
        type(value) is not list
        or len(value) != 2
        or type(value[0]) is not bytes
        or len(value[0]) != TX_ID_SIZE
        or type(value[1]) is not str
    ):
        raise ResultDecodeError("expected [tx_id (16 bytes), code]")
    if value[1] not in _CODES:
        raise ResultDecodeError(f"unknown result code {value[1]!r}")
    if encode_result(value[0], value[1]) != raw:
        raise ResultDecodeError("not the canonical encoding")
    return ResultLeaf(value[0], value[1])
