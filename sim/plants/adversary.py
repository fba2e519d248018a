"""Planted bugs of the "adversary" class: checks that only a Byzantine peer ever puts to work.

Each function returns a context manager that replaces one production function (or method) by
a mutant for the duration of a run and restores it afterwards; production code carries no
switch. The mutants are copies of the production code with one mistake, each a mistake someone
could plausibly make, and each exposed by one strategy of `sim.byzantine`:

- line28_without_polka / line28_polka_any_value (`lie_vr`): line 28 takes a proposal with
  vr >= 0 without 2f+1 prevotes for its value in round vr, or with 2f+1 prevotes of any value;
- proposer_unchecked (`usurp`): a proposal is admitted whoever signed it;
- catchup_ignores_power / catchup_ignores_block (`forge`): catch-up's certificate check counts
  signatures but not their power, or checks a certificate without asking whether it is for
  the block and height at hand;
- chain_id_not_signed (`cross_chain`): sign bytes leave out the chain id;
- previous_height_admitted (`replay`): vote admission takes the previous height's votes as
  the current height's.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator
from typing import Any

from consensus import commit as commit_module
from consensus import signing
from consensus.codec import DecodeError, pack_values, unpackb_canonical
from consensus.core import ConsensusCore
from consensus.crypto import ED25519, SignatureScheme
from consensus.events import RejectCode as Code
from consensus.events import VoteReceived
from consensus.messages import BlockId, Commit, Proposal, Step, ValidatorSet, Vote, VoteType
from consensus.replica import inbound
from consensus.replica.inbound import Inbound
from consensus.replica.wire import ProposalMsg, VoteMsg
from consensus.rules import Rules
from consensus.signing import _VOTE_TAGS, PROPOSAL_TAG, verify_proposal, verify_vote
from consensus.votes import more_than_two_thirds
from sim.plants import replaced


@contextlib.contextmanager
def _recoded(function: Callable[..., Any], mutant: Callable[..., Any]) -> Iterator[None]:
    """Give `function` the code of `mutant` (which must read only `function`'s globals), so
    every module that imported `function` by name runs the mutant."""
    assert isinstance(function, types.FunctionType) and isinstance(mutant, types.FunctionType)
    original = function.__code__
    function.__code__ = mutant.__code__
    try:
        yield
    finally:
        function.__code__ = original


# ---------------------------------------------------------------- line 28 (lie_vr)


def _line28(polka_of_any_value: bool) -> Callable[[Rules, Proposal], bool]:
    def rules(self: Rules, p: Proposal) -> bool:
        """Rules._on_proposal_rules with the round-vr polka check wrong (see the module doc)."""
        v, vr = p.block_id, p.valid_round
        if vr >= 0 and polka_of_any_value:
            polka = self._log.peek_vote_set(vr, VoteType.PREVOTE)
            if polka is None or not polka.has_quorum_any():  # mutant: any value will do
                return False
        valid = self._valid(v)
        if valid is None:
            return False
        if vr == -1:
            lock_ok = self._locked_round == -1 or self._locked_value == v
        else:  # mutant (without_polka): no polka asked for at all
            lock_ok = self._locked_round <= vr or self._locked_value == v
        self._step = Step.PREVOTE
        self._sign_vote(VoteType.PREVOTE, v if valid and lock_ok else None)
        return True

    return rules


def line28_without_polka() -> contextlib.AbstractContextManager[None]:
    return replaced(Rules, "_on_proposal_rules", _line28(polka_of_any_value=False))


def line28_polka_any_value() -> contextlib.AbstractContextManager[None]:
    return replaced(Rules, "_on_proposal_rules", _line28(polka_of_any_value=True))


# ---------------------------------------------------------------- the proposer (usurp)


def _on_proposal_any_proposer(self: ConsensusCore, event: Any) -> None:
    """ConsensusCore._on_proposal without `p.proposer == proposer(h, r)`."""
    p = event.proposal
    if p.height != self._height:
        return self._reject(
            Code.OTHER_HEIGHT, f"proposal for height {p.height} at {self._height}", p.proposer
        )
    known = self._log.proposals.get(p.round)
    if known == p:
        return None
    if known is not None:
        return self._reject(
            Code.CONFLICTING_PROPOSAL, "a different proposal for this round exists", p.proposer
        )
    if not self.validators.is_member(p.proposer):  # mutant: a member, not *the* proposer
        return self._reject(Code.WRONG_PROPOSER, "not a validator", p.proposer)
    if not self._log.admits_round(p.proposer, p.round, self._round):
        return self._reject(
            Code.FUTURE_ROUND, "too many future rounds from this sender", p.proposer
        )
    if not verify_proposal(self.scheme, self.chain_id, p):
        return self._reject(Code.BAD_SIGNATURE, "bad proposal signature", p.proposer)
    self._store_proposal(p)
    self._progress()
    return None


def proposer_unchecked() -> contextlib.AbstractContextManager[None]:
    return replaced(ConsensusCore, "_on_proposal", _on_proposal_any_proposer)


# ---------------------------------------------------------------- catch-up (forge)


def _verify_commit(*, check_power: bool, check_block: bool) -> Callable[..., None]:
    def verify_commit(
        commit: Commit,
        validators: ValidatorSet,
        chain_id: str,
        block_id: BlockId,
        scheme: SignatureScheme = ED25519,
        height: int | None = None,
    ) -> None:
        """consensus.commit.verify_commit with the power or the block check missing."""
        error = commit_module.CommitError
        if not isinstance(commit, Commit) or not isinstance(commit.precommits, tuple):
            raise error("not a commit")
        if check_block and commit.block_id != block_id:
            raise error("the commit is for another block")
        if check_block and height is not None and commit.height != height:
            raise error(f"the commit is for height {commit.height}, not {height}")
        if len(commit.precommits) > len(validators.validators):
            raise error("more precommits than validators")
        seen: set[bytes] = set()
        power = 0
        for vote in commit.precommits:
            if not isinstance(vote, Vote) or vote.type is not VoteType.PRECOMMIT:
                raise error("a commit holds precommits only")
            # mutant (block): the votes agree with the commit, whatever block it is for
            if (vote.height, vote.round, vote.block_id) != (
                commit.height,
                commit.round,
                commit.block_id,
            ):
                raise error("a precommit is for another height, round or block")
            if vote.validator in seen:
                raise error("duplicate signer")
            seen.add(vote.validator)
            member_power = validators.power_of(vote.validator)
            if member_power == 0:
                raise error("a signer is not in the validator set")
            power += member_power
        if check_power and not more_than_two_thirds(power, validators.total_power):
            raise error(f"signers hold {power} of {validators.total_power}")
        for vote in commit.precommits:
            if not verify_vote(scheme, chain_id, vote):
                raise error("a precommit's signature is invalid (or for another chain)")

    return verify_commit


def catchup_ignores_power() -> contextlib.AbstractContextManager[None]:
    return replaced(inbound, "verify_commit", _verify_commit(check_power=False, check_block=True))


def catchup_ignores_block() -> contextlib.AbstractContextManager[None]:
    return replaced(inbound, "verify_commit", _verify_commit(check_power=True, check_block=False))


# ---------------------------------------------------------------- sign bytes (cross_chain)
# The mutants run with consensus.signing's globals (see `_recoded`): every global they name is
# imported above from the same modules consensus.signing imports it from.


def _proposal_sign_bytes(chain_id: str, p: Proposal) -> bytes:
    return pack_values([PROPOSAL_TAG, p.height, p.round, p.valid_round, p.block_id, p.proposer])


def _vote_sign_bytes(chain_id: str, v: Vote) -> bytes:
    return pack_values([_VOTE_TAGS[v.type], v.height, v.round, v.block_id, v.validator])


def _proposal_from_sign_bytes(chain_id: str, sign_bytes: bytes, signature: bytes) -> Proposal:
    obj = unpackb_canonical(sign_bytes)
    if type(obj) is not list or len(obj) != 6 or obj[0] != PROPOSAL_TAG:
        raise DecodeError("not the sign bytes of a proposal")
    _tag, height, round_, valid_round, block_id, proposer = obj
    return Proposal(height, round_, valid_round, block_id, proposer, signature)


def _vote_from_sign_bytes(chain_id: str, sign_bytes: bytes, signature: bytes) -> Vote:
    obj = unpackb_canonical(sign_bytes)
    if type(obj) is not list or len(obj) != 5:
        raise DecodeError("not the sign bytes of a vote")
    tag, height, round_, block_id, validator = obj
    vote_type = next((t for t, known in _VOTE_TAGS.items() if known == tag), None)
    if vote_type is None:
        raise DecodeError("not the sign bytes of a vote")
    return Vote(vote_type, height, round_, block_id, validator, signature)


@contextlib.contextmanager
def chain_id_not_signed() -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        stack.enter_context(_recoded(signing.proposal_sign_bytes, _proposal_sign_bytes))
        stack.enter_context(_recoded(signing.vote_sign_bytes, _vote_sign_bytes))
        stack.enter_context(_recoded(signing.proposal_from_sign_bytes, _proposal_from_sign_bytes))
        stack.enter_context(_recoded(signing.vote_from_sign_bytes, _vote_from_sign_bytes))
        yield


# ---------------------------------------------------------------- heights (replay)


def _on_consensus_previous_height(
    self: Inbound, peer: bytes, msg: ProposalMsg | VoteMsg, now_ms: int
) -> list[Any]:
    """Inbound._on_consensus with the lower bound one height too low (for votes)."""
    value: Proposal | Vote = msg.proposal if isinstance(msg, ProposalMsg) else msg.vote
    height = value.height
    low = self.height - 1 if isinstance(msg, VoteMsg) else self.height  # mutant
    if height < low or height > self.height + self.config.max_future_heights:
        return []
    if height > self.height or self._waiting():
        self._future.add(height, peer, msg)
        if self._waiting() and isinstance(msg, ProposalMsg) and height == self.height:
            return self._begin_height(now_ms, force=True)
        return []
    if isinstance(msg, VoteMsg):
        out = self._drive(self._core.handle(VoteReceived(msg.vote), now_ms), now_ms, peer)
        if self.height == height:
            out += self._fetch_missing(msg.vote.round, now_ms)
        return out
    return self._on_proposal(peer, msg, now_ms)


def _on_vote_previous_height(self: ConsensusCore, event: Any) -> None:
    """ConsensusCore._on_vote taking votes of the previous height too."""
    v = event.vote
    if v.height not in (self._height, self._height - 1):  # mutant: off by one
        return self._reject(
            Code.OTHER_HEIGHT, f"vote for height {v.height} at {self._height}", v.validator
        )
    if self._log.has_vote(v):
        return None
    power = self.validators.power_of(v.validator)
    if power == 0:
        return self._reject(Code.NOT_A_VALIDATOR, "vote from a non-member", v.validator)
    if not self._log.admits_round(v.validator, v.round, self._round):
        return self._reject(
            Code.FUTURE_ROUND, "too many future rounds from this sender", v.validator
        )
    if not verify_vote(self.scheme, self.chain_id, v):
        return self._reject(Code.BAD_SIGNATURE, "bad vote signature", v.validator)
    self._add_vote(v, power)
    self._progress()
    return None


@contextlib.contextmanager
def previous_height_admitted() -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        stack.enter_context(replaced(Inbound, "_on_consensus", _on_consensus_previous_height))
        stack.enter_context(replaced(ConsensusCore, "_on_vote", _on_vote_previous_height))
        yield
