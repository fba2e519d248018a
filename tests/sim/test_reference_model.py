"""The reference model apart from the stateful test: it is independent of the ledger's code, and
its reading of bytes agrees with the ledger's on anything (valid transactions, mutations of
them, arbitrary msgpack values), code for code."""

from __future__ import annotations

import ast
import pathlib

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.crypto import ED25519, Ed25519Signer
from ledger.app import LedgerApp
from ledger.signing import make_tx
from ledger.tx import Body, Mint, Redeem, RegisterParticipant, SetMintAllowance, Transfer
from sim.reference import ReferenceLedger
from tests.ledger.support import ALICE, BOB, CHAIN, COMP, GOV, USD_ISSUER, genesis

FORBIDDEN = {
    "ledger.app",
    "ledger.execute",
    "ledger.state",
    "ledger.layout",
    "ledger.used_ids",
    "ledger.validation",
    "ledger.mempool",
    "ledger.txcodec",
    "ledger.tx",
    "ledger.signing",
    "ledger.results",
}
GENESIS = genesis(max_memo_bytes=8)
NOW_MS = 10_000


def test_the_model_imports_none_of_the_code_it_judges() -> None:
    package = pathlib.Path(__file__).parents[2] / "sim" / "reference"
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            bad = [n for n in names if n in FORBIDDEN or n == "ledger"]
            assert not bad, f"{path.name} imports {bad}"


def _valid_txs() -> list[bytes]:
    def tx(who: Ed25519Signer, body: Body, n: int, until: int = NOW_MS + 5_000) -> bytes:
        return make_tx(who, CHAIN, body, nonce=n.to_bytes(16, "big"), valid_until_ms=until)

    return [
        tx(ALICE, Transfer(ALICE.public_key, BOB.public_key, "USD", 5, "rent"), 1),
        tx(ALICE, Redeem("EUR", 7), 2),
        tx(USD_ISSUER, Mint(BOB.public_key, "USD", 10**6, "dep-1"), 3),
        tx(GOV, SetMintAllowance(USD_ISSUER.public_key, "USD", 0), 4),
        tx(COMP, RegisterParticipant(ALICE.public_key, "alice", 2**64 - 1), 5),
    ]


def _ledger_code(app: LedgerApp, raw: bytes) -> str:
    admission = app.check_tx(raw, NOW_MS)
    return "OK" if admission.accepted else admission.code


@settings(max_examples=150, deadline=None)
@given(
    which=st.integers(0, 4),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "insert", "drop"]),
            st.integers(0, 10**6),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_mutated_transactions_get_the_same_code_from_model_and_ledger(
    which: int, edits: list[tuple[str, int, int]]
) -> None:
    raw = bytearray(_valid_txs()[which])
    for what, position, value in edits:
        i = position % max(1, len(raw))
        if what == "flip" and raw:
            raw[i] ^= 1 << (value % 8)
        elif what == "cut":
            del raw[i:]
        elif what == "insert":
            raw.insert(i, value)
        elif raw:
            del raw[i]
    data = bytes(raw)
    model = ReferenceLedger(GENESIS, ED25519)
    assert model.admission(data, NOW_MS) == _ledger_code(LedgerApp(GENESIS), data)


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=70),
    lambda inner: st.lists(inner, max_size=9),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    version=st.sampled_from([2, 2, 2, 1, True]),
    kind=st.sampled_from([1, 2, 3, 4, 10, 11, 12, 13, 14, 20, 21, 22, 30, 31, 5, -1]),
    rest=st.lists(values, min_size=5, max_size=6),
    fields=st.lists(values, max_size=6),
)
def test_arbitrary_arrays_get_the_same_code_from_model_and_ledger(
    version: object, kind: int, rest: list[object], fields: list[object]
) -> None:
    chain, nonce, signer, until, signature = rest[:5]
    for value in (
        [version, chain, kind, nonce, signer, until, fields, signature],
        [version, CHAIN, kind, b"n" * 16, ALICE.public_key, NOW_MS, fields, b"s" * 64],
    ):
        try:
            data = msgpack.packb(value, use_bin_type=True)
        except (OverflowError, ValueError):
            return
        model = ReferenceLedger(GENESIS, ED25519)
        assert model.admission(data, NOW_MS) == _ledger_code(LedgerApp(GENESIS), data)
