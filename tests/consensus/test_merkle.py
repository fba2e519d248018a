"""RFC 6962 Merkle trees: published vectors, and a recursive reference written from the RFC.

The reference below follows the RFC's recursive definitions (MTH and PATH split at the largest
power of two below n); the code under test builds bottom-up. Both must agree on every root and
path, and a path must verify if and only if the leaf is the tree's leaf at that index.
"""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from consensus.merkle import EMPTY_ROOT, MerkleTree, merkle_root, verify_inclusion

# Certificate Transparency's test leaves and the tree heads of their first 0..8 leaves.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_PATHS = {  # leaf index (0-based) in the 8-leaf tree -> its published inclusion path
    0: (
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ),
    5: (
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ),
}


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, MTH, as written there."""
    if not leaves:
        return _sha(b"")
    if len(leaves) == 1:
        return _sha(b"\x00" + leaves[0])
    k = _split(len(leaves))
    return _sha(b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:]))


def reference_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 section 2.1.1, PATH(m, D[n]), as written there."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*reference_path(m, leaves[:k]), reference_root(leaves[k:])]
    return [*reference_path(m - k, leaves[k:]), reference_root(leaves[:k])]


def test_published_tree_heads() -> None:
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    for size in range(len(CT_LEAVES) + 1):
        assert merkle_root(CT_LEAVES[:size]).hex() == CT_ROOTS[size]


def test_published_inclusion_paths() -> None:
    tree = MerkleTree(CT_LEAVES)
    root = bytes.fromhex(CT_ROOTS[8])
    for index, hexes in CT_PATHS.items():
        path = tuple(bytes.fromhex(h) for h in hexes)
        assert tree.path(index) == path
        assert verify_inclusion(CT_LEAVES[index], index, 8, path, root)


leaf_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=40)


@given(leaf_lists)
def test_roots_and_paths_match_the_rfc_definitions(leaves: list[bytes]) -> None:
    tree = MerkleTree(leaves)
    assert tree.root == reference_root(leaves)
    for index in range(len(leaves)):
        assert list(tree.path(index)) == reference_path(index, leaves)


@given(leaf_lists, st.data())
def test_a_path_verifies_iff_the_leaf_is_in_the_tree_at_that_index(
    leaves: list[bytes], data: st.DataObject
) -> None:
    tree = MerkleTree(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1), label="index of the path")
    path = tree.path(index)
    claimed_index = data.draw(st.integers(-1, len(leaves) + 1), label="claimed index")
    leaf = data.draw(st.sampled_from([leaves[index], *leaves, b"x", b""]), label="leaf")
    expected = (
        0 <= claimed_index < len(leaves)
        and leaves[claimed_index] == leaf
        and tree.path(claimed_index) == path
    )
    assert verify_inclusion(leaf, claimed_index, len(leaves), path, tree.root) == expected


def test_a_root_does_not_fix_the_tree_size_so_the_header_must() -> None:
    """Why headers carry `num_txs`: the root of [a, b, c] also verifies a's path read as a
    4-leaf tree (RFC 9162 proofs are for a (size, root) pair, not a root alone)."""
    leaves = [b"a", b"b", b"c"]
    tree = MerkleTree(leaves)
    assert verify_inclusion(b"a", 0, 4, tree.path(0), tree.root)


@given(leaf_lists, st.data())
def test_a_tampered_path_or_root_never_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    path = list(tree.path(index))
    assert verify_inclusion(leaves[index], index, len(leaves), path, tree.root)
    flipped = bytes([tree.root[0] ^ 1]) + tree.root[1:]
    assert not verify_inclusion(leaves[index], index, len(leaves), path, flipped)
    if path:
        at = data.draw(st.integers(0, len(path) - 1))
        bad = [*path]
        bad[at] = bytes([bad[at][0] ^ 0x80]) + bad[at][1:]
        assert not verify_inclusion(leaves[index], index, len(leaves), bad, tree.root)
        assert not verify_inclusion(leaves[index], index, len(leaves), path[:-1], tree.root)
    assert not verify_inclusion(leaves[index], index, len(leaves), [*path, b"\0" * 32], tree.root)


def test_malformed_inputs_are_false_not_errors() -> None:
    tree = MerkleTree([b"a", b"b", b"c"])
    path = tree.path(2)
    assert verify_inclusion(b"c", 2, 3, path, tree.root)
    for index, size, p in (
        (3, 3, path),
        (-1, 3, path),
        (0, 0, ()),
        (True, 3, path),
        (2, 3, (b"short",)),
        (2, 3, ("x" * 32,)),
        (2, 3, (b"\0" * 32,) * 65),
    ):
        assert not verify_inclusion(b"c", index, size, p, tree.root)  # type: ignore[arg-type]


def test_a_single_leaf_tree_has_an_empty_path() -> None:
    tree = MerkleTree([b"only"])
    assert tree.path(0) == ()
    assert verify_inclusion(b"only", 0, 1, (), tree.root)
    assert not verify_inclusion(b"only", 0, 2, (), tree.root)
