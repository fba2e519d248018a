"""The client-level exactly-once checker on hand-made chains: it passes what is right and flags
each way a client's view and the chain can disagree."""

from __future__ import annotations

import pytest

from sim.checkers import Violation
from sim.exactly_once import Committed, ExactlyOnce, Where

PAY, PAY_AGAIN, OTHER, FORGED = b"pay", b"pay-other-body", b"other", b"forged"
ID, ID2 = b"i" * 16, b"j" * 16


def _checker(*signed: bytes) -> ExactlyOnce:
    checker = ExactlyOnce()
    for raw in signed:
        checker.signed(raw)
    return checker


def test_one_application_a_matching_receipt_and_later_uses_pass() -> None:
    checker = _checker(PAY, PAY_AGAIN, OTHER)
    checker.on_height(1, [Committed(OTHER, ID2, "INSUFFICIENT_FUNDS"), Committed(PAY, ID, "OK")])
    checker.saw_final(PAY, Where(1, 1, "OK"), "client 1")
    checker.saw_final(OTHER, Where(1, 0, "INSUFFICIENT_FUNDS"), "client 2")
    checker.on_height(2, [Committed(PAY, ID, "ALREADY_COMMITTED")])
    checker.on_height(3, [Committed(PAY_AGAIN, ID, "DUPLICATE_TX_ID")])
    checker.saw_final(PAY, Where(1, 1, "OK"), "client 1")  # asked again: the same receipt
    assert checker.judged == 3


def test_a_receipt_for_a_height_not_decided_yet_waits_for_it() -> None:
    checker = _checker(PAY)
    checker.saw_final(PAY, Where(2, 0, "OK"), "client 1")
    checker.on_height(1, [])
    assert checker.judged == 0
    checker.on_height(2, [Committed(PAY, ID, "OK")])
    assert checker.judged == 1


def test_a_client_seen_final_transaction_committed_twice() -> None:
    checker = _checker(PAY, OTHER)
    checker.on_height(1, [Committed(PAY, ID, "OK")])
    checker.saw_final(PAY, Where(1, 0, "OK"), "client 1")
    with pytest.raises(Violation, match=r"applied twice: at height 1 index 0 .* height 2 index 1"):
        checker.on_height(2, [Committed(OTHER, ID2, "OK"), Committed(PAY, ID, "OK")])


def test_an_id_applied_twice_with_another_body() -> None:
    checker = _checker(PAY, PAY_AGAIN)
    checker.on_height(1, [Committed(PAY, ID, "OK")])
    with pytest.raises(Violation, match="applied twice"):
        checker.on_height(2, [Committed(PAY_AGAIN, ID, "OK")])


def test_a_receipt_with_another_outcome() -> None:
    checker = _checker(PAY)
    checker.on_height(1, [Committed(PAY, ID, "INSUFFICIENT_FUNDS")])
    with pytest.raises(Violation, match=r"saw a transaction final at height 1 index 0 \(OK\)"):
        checker.saw_final(PAY, Where(1, 0, "OK"), "client 1")


def test_a_receipt_at_another_place_or_for_nothing_applied() -> None:
    checker = _checker(PAY, OTHER)
    checker.on_height(1, [Committed(OTHER, ID2, "OK"), Committed(PAY, ID, "OK")])
    with pytest.raises(Violation, match="it was applied at height 1 index 1"):
        checker.saw_final(PAY, Where(1, 0, "OK"), "client 1")
    checker = _checker(PAY)
    checker.on_height(1, [Committed(PAY, ID, "ALREADY_COMMITTED")])
    with pytest.raises(Violation, match="never applied"):
        checker.saw_final(PAY, Where(1, 0, "OK"), "client 1")


def test_a_receipt_naming_a_height_where_the_chain_applied_it_later() -> None:
    checker = _checker(PAY)
    checker.saw_final(PAY, Where(1, 0, "OK"), "client 1")
    with pytest.raises(Violation, match="never applied"):
        checker.on_height(1, [])
    checker = _checker(PAY)
    checker.saw_final(PAY, Where(5, 0, "OK"), "client 1")
    with pytest.raises(Violation, match=r"final at height 5 index 0 .* yet it was applied at"):
        checker.on_height(1, [Committed(PAY, ID, "OK")])


def test_two_different_receipts_for_one_transaction() -> None:
    checker = _checker(PAY)
    checker.saw_final(PAY, Where(1, 0, "OK"), "client 1")
    with pytest.raises(Violation, match="two receipts"):
        checker.saw_final(PAY, Where(2, 0, "OK"), "client 1")


def test_an_unsigned_transaction_applied() -> None:
    checker = _checker(PAY)
    checker.on_height(1, [Committed(PAY, ID, "OK")])
    with pytest.raises(Violation, match="no client signed"):
        checker.on_height(2, [Committed(FORGED, ID2, "NOT_AUTHORIZED")])


def test_an_unsigned_later_use_applies_nothing_and_passes() -> None:
    checker = _checker(PAY)
    checker.on_height(1, [Committed(PAY, ID, "OK"), Committed(FORGED, ID, "DUPLICATE_TX_ID")])


def test_a_disabled_checker_records_but_never_judges() -> None:
    checker = ExactlyOnce(enabled=False)
    checker.on_height(1, [Committed(FORGED, ID, "OK"), Committed(FORGED, ID, "OK")])
    checker.saw_final(FORGED, Where(1, 1, "OK"), "client 1")
