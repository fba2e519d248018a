"""Canonical, domain-separated sign bytes for proposals and votes.

What a validator signs is the canonical msgpack array `[tag, chain_id, ...fields]`, never the
wire encoding: the tag separates proposals from prevotes from precommits (and from anything else
signed with the same key), and the chain id stops a signature from one chain being replayed on
another. The signature itself is not part of the sign bytes.
"""

from __future__ import annotations

import attrs

from consensus.codec import DecodeError, pack_values, unpackb_canonical
from consensus.crypto import SignatureScheme, Signer
from consensus.messages import BLOCK_ID_SIZE, Proposal, Step, Vote, VoteType

PROPOSAL_TAG = "depositnet/proposal/v1"
PREVOTE_TAG = "depositnet/prevote/v1"
PRECOMMIT_TAG = "depositnet/precommit/v1"

_VOTE_TAGS = {VoteType.PREVOTE: PREVOTE_TAG, VoteType.PRECOMMIT: PRECOMMIT_TAG}


def proposal_sign_bytes(chain_id: str, p: Proposal) -> bytes:
    """What the proposer signs: tag, chain, height, round, valid round, block id, proposer."""
    return pack_values(
        [PROPOSAL_TAG, chain_id, p.height, p.round, p.valid_round, p.block_id, p.proposer]
    )


_SIGN_BYTES_MAX = 4096
_sign_bytes: dict[int, tuple[Vote, str, bytes]] = {}
"""Sign bytes of recent votes, by the vote object's identity (each entry keeps its vote alive,
so an id() is never reused while cached): every receiver of a vote checks its signature, and
in the simulator all of them hold the same decoded object."""


def vote_sign_bytes(chain_id: str, v: Vote) -> bytes:
    """What a validator signs: type tag, chain, height, round, block id (nil), validator."""
    found = _sign_bytes.get(id(v))
    if found is not None and found[0] is v and found[1] == chain_id:
        return found[2]
    data = pack_values([_VOTE_TAGS[v.type], chain_id, v.height, v.round, v.block_id, v.validator])
    if len(_sign_bytes) >= _SIGN_BYTES_MAX:
        _sign_bytes.clear()
    _sign_bytes[id(v)] = (v, chain_id, data)
    return data


_PROPOSE = Step.PROPOSE


def message_step(message: Proposal | Vote) -> Step:
    """The step a signed message belongs to, for the (height, round, step) double-sign guard."""
    return _PROPOSE if isinstance(message, Proposal) else message.type.step


def sign_proposal(signer: Signer, chain_id: str, p: Proposal) -> Proposal:
    """`p` (with `proposer` set to the signer's key) carrying the signer's signature."""
    p = attrs.evolve(p, proposer=signer.public_key, signature=b"")
    return attrs.evolve(p, signature=signer.sign(proposal_sign_bytes(chain_id, p)))


def sign_vote(signer: Signer, chain_id: str, v: Vote) -> Vote:
    """`v` (with `validator` set to the signer's key) carrying the signer's signature."""
    v = attrs.evolve(v, validator=signer.public_key, signature=b"")
    return attrs.evolve(v, signature=signer.sign(vote_sign_bytes(chain_id, v)))


def verify_proposal(scheme: SignatureScheme, chain_id: str, p: Proposal) -> bool:
    """True iff `p.signature` is `p.proposer`'s signature of `p` on chain `chain_id`."""
    return scheme.verify(p.proposer, proposal_sign_bytes(chain_id, p), p.signature)


def verify_vote(scheme: SignatureScheme, chain_id: str, v: Vote) -> bool:
    """True iff `v.signature` is `v.validator`'s signature of `v` on chain `chain_id`."""
    return scheme.verify(v.validator, vote_sign_bytes(chain_id, v), v.signature)


def proposal_from_sign_bytes(chain_id: str, sign_bytes: bytes, signature: bytes) -> Proposal:
    """Rebuild a signed proposal from persisted sign bytes (to re-send it after a restart)."""
    obj = unpackb_canonical(sign_bytes)
    if type(obj) is not list or len(obj) != 7 or obj[0] != PROPOSAL_TAG or obj[1] != chain_id:
        raise DecodeError("not the sign bytes of a proposal on this chain")
    _tag, _chain, height, round_, valid_round, block_id, proposer = obj
    ints_ok = all(type(x) is int for x in (height, round_, valid_round))
    if not ints_ok or type(block_id) is not bytes or len(block_id) != BLOCK_ID_SIZE:
        raise DecodeError("malformed proposal sign bytes")
    if type(proposer) is not bytes:
        raise DecodeError("malformed proposal sign bytes")
    return Proposal(height, round_, valid_round, block_id, proposer, signature)


def vote_from_sign_bytes(chain_id: str, sign_bytes: bytes, signature: bytes) -> Vote:
    """Rebuild a signed vote from persisted sign bytes (to re-send it after a restart)."""
    obj = unpackb_canonical(sign_bytes)
    if type(obj) is not list or len(obj) != 6 or obj[1] != chain_id:
        raise DecodeError("not the sign bytes of a vote on this chain")
    tag, _chain, height, round_, block_id, validator = obj
    vote_type = next((t for t, known in _VOTE_TAGS.items() if known == tag), None)
    if vote_type is None or type(height) is not int or type(round_) is not int:
        raise DecodeError("malformed vote sign bytes")
    nil_or_id = block_id is None or (type(block_id) is bytes and len(block_id) == BLOCK_ID_SIZE)
    if not nil_or_id or type(validator) is not bytes:
        raise DecodeError("malformed vote sign bytes")
    return Vote(vote_type, height, round_, block_id, validator, signature)
