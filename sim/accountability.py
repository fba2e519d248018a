"""Accountability: when agreement breaks, the evidence must convict more than 1/3 of the power.

The evidence is what correct validators actually received (every validly signed vote delivered
to a correct instance), pooled, as in the accountable-safety theorem: if two correct
validators decide differently, the messages they hold prove that validators with more than 1/3
of the power equivocated (two votes of one type at one height and round) or showed amnesia
(precommitted v, then prevoted v' without a polka for v' since). Two properties:
- A1: after a fork, the convicted validators hold more than 1/3 of the power;
- A2: no correct validator is ever convicted (it would mean a correct one misbehaved, or that
  evidence was forged).
"""

from __future__ import annotations

import attrs

from sim.votes_seen import VoteRecord


@attrs.frozen
class Verdict:
    ok: bool
    reason: str
    convicted: tuple[str, ...]  # "name: why"
    convicted_power: int


def judge(
    evidence: VoteRecord,
    correct: frozenset[bytes],
    names: dict[bytes, str],
    forked: bool,
    evidence_effects: frozenset[bytes] = frozenset(),
) -> Verdict:
    """Check A2 always and A1 when `forked`; `evidence_effects` are validators named by the
    replicas' own equivocation evidence (also must never be correct)."""
    guilty: dict[bytes, str] = {}
    for key, why in evidence.equivocators().items():
        guilty[key] = why
    for key, why in evidence.amnesiacs().items():
        guilty.setdefault(key, why)
    convicted = tuple(f"{names.get(k, k[:4].hex())}: {why}" for k, why in sorted(guilty.items()))
    power = sum(evidence.power(k) for k in guilty)
    framed = sorted(names.get(k, k[:4].hex()) for k in (set(guilty) | evidence_effects) & correct)
    if framed:
        return Verdict(
            False, f"correct validator(s) convicted: {', '.join(framed)}", convicted, power
        )
    if forked and 3 * power <= evidence.total_power:
        return Verdict(
            False,
            f"agreement broke but the evidence convicts only {power}/{evidence.total_power} "
            f"of the power ({'; '.join(convicted) or 'nobody'})",
            convicted,
            power,
        )
    return Verdict(True, "", convicted, power)
