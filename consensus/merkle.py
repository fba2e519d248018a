"""Merkle trees as RFC 6962 (and RFC 9162 section 2.1) define them, for receipts.

Why this construction: a block header commits to its transactions and to their results with
one root each, so a client holding a header and its commit certificate can check that *its*
transaction is in the block, and what its outcome was, from a path of about log2(n) hashes
instead of the whole block. RFC 6962's tree is the standard one (Certificate Transparency,
CometBFT's header roots): leaves and inner nodes are hashed with different one-byte prefixes
(0x00, 0x01), so no inner node can be passed off as a leaf, and the tree of n leaves is
left-balanced (the left subtree holds the largest power of two below n), so no leaf is ever
duplicated to fill a level (the flaw of Bitcoin's tree, CVE-2012-2459).

    leaf_hash(d)      = SHA-256(0x00 || d)
    node_hash(l, r)   = SHA-256(0x01 || l || r)
    root of 0 leaves  = SHA-256("")

Building bottom-up and carrying an odd last node up unchanged gives exactly the RFC's
left-balanced tree; an inclusion path lists the siblings from the leaf upwards, skipping the
levels where the node had none. `verify_inclusion` is RFC 9162's algorithm and needs nothing
but the leaf, its index, the tree size, the path and the root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
MAX_PATH_LENGTH = 64
"""A path is at most ceil(log2(size)) long; sizes are below 2**64."""
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf's data (a transaction's bytes, a result's encoding)."""
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


class MerkleTree:
    """Every level of the tree over `leaves`, for the root and any leaf's inclusion path."""

    __slots__ = ("_levels",)

    def __init__(self, leaves: Sequence[bytes]) -> None:
        level = [leaf_hash(data) for data in leaves]
        self._levels = [level]
        while len(level) > 1:
            up = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                up.append(level[-1])  # the odd last node moves up unchanged
            self._levels.append(up)
            level = up

    @property
    def size(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        return self._levels[-1][0] if self.size else EMPTY_ROOT

    def path(self, index: int) -> tuple[bytes, ...]:
        """The inclusion path of leaf `index`: sibling hashes from the leaf up to the root."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is outside a tree of {self.size}")
        out = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                out.append(level[sibling])
            index //= 2
        return tuple(out)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root of the tree over `leaves` (each leaf's data, not yet hashed)."""
    return MerkleTree(leaves).root


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """True iff `leaf` is leaf number `index` of a tree of `size` leaves whose root is `root`.

    RFC 9162 section 2.1.3.2; never raises on any input (a malformed path is False)."""
    if type(index) is not int or type(size) is not int or not 0 <= index < size:
        return False
    if len(path) > MAX_PATH_LENGTH or any(
        type(p) is not bytes or len(p) != HASH_SIZE for p in path
    ):
        return False
    fn, sn = index, size - 1
    node = leaf_hash(leaf)
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:  # skip the levels where we had no sibling
                fn >>= 1
                sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and node == root
