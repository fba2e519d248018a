"""Proposers that lie: about the valid round (`lie_vr`), or about whose turn it is (`usurp`).

Both only ever sign as themselves, and both use a block their own honest replica built at its
turn (so the block is valid: a lie about the block would be caught by valid(v), which is not
what they test).

`lie_vr` (line 28). A proposal with vr >= 0 may be prevoted only with 2f+1 prevotes for its
value in round vr. The liar rewrites its proposals at rounds r >= 1 to name a valid round that
has no polka for the value (vr = r - 1 mostly, or any other round than the honest one). Heights
usually decide in round 0, where no vr can be named, so when the liar proposes at round 0 it
also sends at once, with the same block and made-up valid rounds, its proposals for its next
turns at that height (up to two: a receiver holds a sender's messages for at most two rounds
ahead of its own), in case the height gets there; and when one of those turns is round 1 or 2,
it mostly withholds the round-0 proposal, so that the round fails as with a silent proposer. Honest
validators must not prevote the lies: they wait for the polka, and time out.

`usurp` (the proposer check). Only proposer(h, r) may propose in round r. When the usurper
proposes at its turn (h, r), it mostly withholds that proposal and proposes the same block for
rounds r + 1 and r + 2 instead, whose proposers it is not, ahead of their real proposers.
Honest validators must reject them; a validator that took one would prevote a value no
proposer of that round ever proposed.
"""

from __future__ import annotations

import attrs

from consensus.replica.events import BroadcastPayload, ReplicaEffect, SendTo
from consensus.replica.wire import ProposalMsg, encode_wire
from consensus.signing import sign_proposal
from sim.strategy import Strategy

WITHHOLD_P = 0.8
"""How often a proposal at the strategy's own turn is withheld to open the rounds it lies in."""
LOOKAHEAD_ROUNDS = 8
"""The liar sends its lies for its turns among the next rounds of a height at once."""

Slot = tuple[int, int]  # (height, round)


@attrs.define
class _Rewriter(Strategy):
    """Rewrites or withholds this validator's own proposals, consistently for each (h, r)."""

    crafted: dict[Slot, bytes] = attrs.field(factory=dict)  # our payload for (h, r) instead
    withheld: set[Slot] = attrs.field(factory=set)  # our proposals that never leave
    decided: set[Slot] = attrs.field(factory=set)  # own proposals already dealt with
    height: int = 0

    def outgoing(self, effects: list[ReplicaEffect]) -> list[ReplicaEffect]:
        out: list[ReplicaEffect] = []
        for effect in effects:
            msg = (
                self._own(effect.payload) if isinstance(effect, SendTo | BroadcastPayload) else None
            )
            if not isinstance(msg, ProposalMsg):
                out.append(effect)
                continue
            assert isinstance(effect, SendTo | BroadcastPayload)
            p = msg.proposal
            self._forget_below(p.height)
            slot = (p.height, p.round)
            if slot not in self.decided:
                self.decided.add(slot)
                out += [BroadcastPayload(payload) for payload in self._first_sight(msg)]
            if slot in self.withheld:
                continue
            payload = self.crafted.get(slot, effect.payload)
            out.append(attrs.evolve(effect, payload=payload))
        return out

    def _first_sight(self, msg: ProposalMsg) -> list[bytes]:
        """Decide what to do about our honest proposal `msg`; return extra payloads to send."""
        raise NotImplementedError

    def _signed(self, msg: ProposalMsg, round: int, valid_round: int) -> bytes:
        """Our proposal of `msg`'s block for `round` with `valid_round`, encoded."""
        p = attrs.evolve(msg.proposal, round=round, valid_round=valid_round)
        self.sent += 1
        return encode_wire(ProposalMsg(sign_proposal(self.signer, self.chain_id, p), msg.block))

    def _forget_below(self, height: int) -> None:
        if height <= self.height:
            return
        self.height = height
        self.crafted = {s: b for s, b in self.crafted.items() if s[0] >= height}
        self.withheld = {s for s in self.withheld if s[0] >= height}
        self.decided = {s for s in self.decided if s[0] >= height}


class LieValidRound(_Rewriter):
    """`lie_vr`: proposals with a made-up valid round (see the module doc)."""

    def _first_sight(self, msg: ProposalMsg) -> list[bytes]:
        p = msg.proposal
        if p.round >= 1 and (p.height, p.round) not in self.crafted:
            fake = self._fake_valid_round(p.round, p.valid_round)
            if fake is not None:
                self.crafted[(p.height, p.round)] = self._signed(msg, p.round, fake)
            return []
        if p.round != 0:
            return []
        ahead = [r for r in range(1, LOOKAHEAD_ROUNDS) if self._proposes(p.height, r)][:2]
        if ahead and ahead[0] <= 2 and self.rng.random() < WITHHOLD_P:
            self.withheld.add((p.height, p.round))  # round 0 fails: round 1 or 2 comes
        extra = []
        for r in ahead:
            fake = self._fake_valid_round(r, -1)
            assert fake is not None
            self.crafted[(p.height, r)] = self._signed(msg, r, fake)  # ours there, later, too
            extra.append(self.crafted[(p.height, r)])
        return extra

    def _fake_valid_round(self, round: int, honest: int) -> int | None:
        """A valid round other than the honest one: the previous round mostly (a failed
        round, often with 2f+1 prevotes for nil or for something else), else any earlier."""
        choices = [r for r in range(round) if r != honest]
        if not choices:
            return None
        if round - 1 in choices and self.rng.random() < 0.6:
            return round - 1
        return self.rng.choice(choices)


class Usurp(_Rewriter):
    """`usurp`: proposals for rounds whose proposer it is not (see the module doc)."""

    def _first_sight(self, msg: ProposalMsg) -> list[bytes]:
        p = msg.proposal
        others = [r for r in (p.round + 1, p.round + 2) if not self._proposes(p.height, r)]
        if not others or self.rng.random() >= WITHHOLD_P:
            return []
        self.withheld.add((p.height, p.round))
        extra = []
        for r in others:
            self.crafted[(p.height, r)] = self._signed(msg, r, p.valid_round)
            extra.append(self.crafted[(p.height, r)])
        return extra
