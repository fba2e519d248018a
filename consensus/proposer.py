"""Weighted round-robin proposer selection, a pure function of (validator set, height, round).

CometBFT's scheme: every validator holds a priority. One step adds each validator's power to its
priority, picks the highest priority (ties go to the lower public key) and subtracts the total
power from the winner. Before each step the priorities are rescaled if their spread exceeds twice
the total power and re-centred on their average, as CometBFT does. Over any window of `total`
steps each validator proposes about `power` times.

All priorities start equal, so the schedule depends on the set alone. Step k of the sequence picks
the proposer of (height, round) with k = height - 1 + round: one step per height (CometBFT moves
priorities once per committed height) and one more per extra round. The sequence is cached per
validator set and, since the priority vectors are bounded integers, it becomes periodic; once the
period is found any (height, round) is answered in O(1).
"""

from __future__ import annotations

from consensus.messages import ValidatorSet

_MAX_REMEMBERED_STATES = 1 << 16
_WINDOW_FACTOR = 2


def _div_toward_zero(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Go's `/` does (b > 0)."""
    return a // b if a >= 0 else -(-a // b)


class _Schedule:
    """The proposer sequence of one validator set, extended lazily, with cycle detection."""

    def __init__(self, validators: ValidatorSet) -> None:
        self._keys = [v.public_key for v in validators.validators]
        self._powers = [v.power for v in validators.validators]
        self._total = sum(self._powers)
        self._priorities = [0] * len(self._keys)
        self._winners: list[int] = []
        self._seen: dict[tuple[int, ...], int] = {tuple(self._priorities): 0}
        self._cycle: tuple[int, int] | None = None  # (start, period)

    def _rescale_and_centre(self) -> None:
        window = _WINDOW_FACTOR * self._total
        spread = max(self._priorities) - min(self._priorities)
        if spread > window:
            ratio = -(-spread // window)  # ceil
            self._priorities = [_div_toward_zero(p, ratio) for p in self._priorities]
        average = sum(self._priorities) // len(self._priorities)
        self._priorities = [p - average for p in self._priorities]

    def _step(self) -> None:
        self._rescale_and_centre()
        priorities = [p + w for p, w in zip(self._priorities, self._powers, strict=True)]
        best = 0
        for i in range(1, len(priorities)):  # keys are sorted, so strict > prefers lower keys
            if priorities[i] > priorities[best]:
                best = i
        priorities[best] -= self._total
        self._priorities = priorities
        self._winners.append(best)
        if self._cycle is None and len(self._seen) < _MAX_REMEMBERED_STATES:
            state = tuple(priorities)
            first = self._seen.get(state)
            if first is None:
                self._seen[state] = len(self._winners)
            else:
                self._cycle = (first, len(self._winners) - first)
                self._seen.clear()

    def winner(self, index: int) -> bytes:
        if self._cycle is not None and index >= self._cycle[0] + self._cycle[1]:
            start, period = self._cycle
            index = start + (index - start) % period
        while len(self._winners) <= index:
            self._step()
            if self._cycle is not None and index >= self._cycle[0] + self._cycle[1]:
                return self.winner(index)
        return self._keys[self._winners[index]]


_schedules: dict[ValidatorSet, _Schedule] = {}
_MAX_SCHEDULES = 64


def proposer(validators: ValidatorSet, height: int, round: int) -> bytes:
    """The public key of proposer(height, round) of the paper. Raises ValueError on misuse."""
    if type(height) is not int or height < 1 or type(round) is not int or round < 0:
        raise ValueError(f"need height >= 1 and round >= 0, got ({height!r}, {round!r})")
    if not validators.validators:
        raise ValueError("the validator set is empty")
    schedule = _schedules.get(validators)
    if schedule is None:
        if len(_schedules) >= _MAX_SCHEDULES:
            _schedules.clear()
        schedule = _schedules[validators] = _Schedule(validators)
    return schedule.winner(height - 1 + round)
