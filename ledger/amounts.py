"""Amounts: integers in minor units, bounded, with checked arithmetic.

Python ints never overflow, so the bound is ours to enforce: every amount a client sends is in
1..MAX_AMOUNT, and every balance, supply and allowance stays in 0..MAX_AMOUNT. `bool` is an
`int` subclass in Python (`True == 1`); it is refused everywhere, as are floats and strings.
"""

from __future__ import annotations

MAX_AMOUNT = 2**63 - 1
"""The largest amount, balance, supply or allowance (fits a signed 64-bit integer)."""

MAX_U64 = 2**64 - 1


class AmountError(ValueError):
    """An amount that is not an int in range; `code` is AMOUNT_NOT_INTEGER or _OUT_OF_RANGE."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def is_int(value: object) -> bool:
    """True for a genuine int (never a bool)."""
    return type(value) is int


def check_amount(value: object, *, allow_zero: bool = False) -> int:
    """Return `value` if it is a valid amount, else raise AmountError with a stable code."""
    if not is_int(value):
        raise AmountError(
            "AMOUNT_NOT_INTEGER", f"amount must be an integer, not {type(value).__name__}"
        )
    assert isinstance(value, int)
    low = 0 if allow_zero else 1
    if not low <= value <= MAX_AMOUNT:
        raise AmountError("AMOUNT_OUT_OF_RANGE", f"amount {value} is outside {low}..{MAX_AMOUNT}")
    return value


def checked_add(a: int, b: int, limit: int = MAX_AMOUNT) -> int | None:
    """a + b, or None if the sum exceeds `limit` (callers turn None into OVERFLOW)."""
    total = a + b
    return total if total <= limit else None


def checked_sub(a: int, b: int) -> int | None:
    """a - b, or None if it would go negative (callers turn None into INSUFFICIENT_FUNDS)."""
    return a - b if a >= b else None
