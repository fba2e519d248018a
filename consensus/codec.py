"""The canonical msgpack encoding of every consensus value, kept apart from the values.

One value has exactly one encoding: arrays of fields in a fixed order, bytes as msgpack `bin`,
integers in their shortest form, maps (for other codecs that reuse `packb`) with sorted keys.
Decoding re-encodes what it read and refuses anything that is not byte-identical, so trailing
bytes, long-form integers, str-for-bin, duplicate map keys and unsorted maps are all rejected.
Peer bytes are hostile: every decoder checks sizes, types (a `bool` is not an int), field counts
and ranges, and raises only `DecodeError`, whatever the input.

`*_to_obj` / `*_from_obj` turn a value into a plain msgpack-able list and back, so outer messages
(the replica's wire format, the ledger) can embed votes and commits without double encoding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgpack

from consensus.messages import (
    BLOCK_ID_SIZE,
    MAX_KEPT_OWN_VOTES,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    BlockId,
    Commit,
    DuplicateVoteEvidence,
    Proposal,
    SignedRecord,
    SignState,
    Step,
    Validator,
    ValidatorSet,
    Vote,
    VoteType,
)

MAX_MESSAGE_BYTES = 1 << 20
"""The largest encoded consensus value accepted (a commit of MAX_VALIDATORS votes fits)."""
MAX_VALIDATORS = 1024
MAX_POWER = 1 << 50  # per validator; the total stays far below 2**63
MAX_NAME_CHARS = 64
MAX_HEIGHT = (1 << 63) - 1
MAX_ROUND = (1 << 31) - 1
MAX_SIGN_BYTES = 1024
MAX_DEPTH = 32

T = TypeVar("T")


class DecodeError(ValueError):
    """Bytes (or a decoded object) that are not the canonical encoding of the expected value."""


# ---------------------------------------------------------------- generic canonical msgpack


_SCALARS = frozenset({bytes, str, int, bool, type(None)})


def _canonical(obj: object, depth: int = 0) -> object:
    """`obj` with every map's items sorted by key; TypeError for types we never encode."""
    if depth > MAX_DEPTH:
        raise TypeError("nested too deeply")
    if obj is None or isinstance(obj, bool | int | bytes | str):
        return obj
    if isinstance(obj, list | tuple):
        # Scalars inline: a block or a batch is a long list of bytes, walked on every decode.
        return [item if type(item) in _SCALARS else _canonical(item, depth + 1) for item in obj]
    if isinstance(obj, dict):
        return {key: _canonical(obj[key], depth + 1) for key in sorted(obj)}
    raise TypeError(f"cannot encode {type(obj).__name__} canonically")


def packb(obj: object) -> bytes:
    """The canonical msgpack encoding of a tree of None/bool/int/bytes/str/list/tuple/dict."""
    result: bytes = msgpack.packb(_canonical(obj), use_bin_type=True)
    return result


def pack_values(obj: list[object]) -> bytes:
    """Canonical encoding of a tree of lists and scalars without maps (our values, sign bytes):
    the same bytes as `packb`, without its walk."""
    result: bytes = msgpack.packb(obj, use_bin_type=True)
    return result


def _refuse_ext(code: int, data: bytes) -> object:
    raise DecodeError(f"msgpack extension type {code} is not allowed")


def unpackb_canonical(data: bytes, max_size: int = MAX_MESSAGE_BYTES) -> object:
    """Decode one msgpack object, refusing oversize, trailing bytes or a non-canonical form."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise DecodeError(f"{len(data)} bytes exceeds the limit of {max_size}")
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_refuse_ext,
            timestamp=0,
        )
        again = packb(obj)
    except DecodeError:
        raise
    except Exception as exc:  # msgpack raises many types on garbage; all mean "malformed"
        raise DecodeError(f"malformed msgpack: {type(exc).__name__}: {exc}") from None
    if again != data:
        raise DecodeError("not the canonical encoding")
    return obj


def decode_with(
    data: bytes, from_obj: Callable[[object], T], max_size: int = MAX_MESSAGE_BYTES
) -> T:
    """Decode `data` canonically and convert it with `from_obj`; only DecodeError escapes."""
    return from_obj(unpackb_canonical(data, max_size))


# ---------------------------------------------------------------- field checks


def _fields(obj: object, what: str, count: int) -> list[Any]:
    if type(obj) is not list or len(obj) != count:
        raise DecodeError(f"{what}: expected an array of {count} fields")
    return obj


def _int(obj: object, what: str, low: int, high: int) -> int:
    if type(obj) is not int or not low <= obj <= high:
        raise DecodeError(f"{what}: expected an int in [{low}, {high}]")
    return obj


def _bytes(obj: object, what: str, size: int) -> bytes:
    if type(obj) is not bytes or len(obj) != size:
        raise DecodeError(f"{what}: expected {size} bytes")
    return obj


def _block_id(obj: object, what: str) -> BlockId:
    return _bytes(obj, what, BLOCK_ID_SIZE)


def _optional_block_id(obj: object, what: str) -> BlockId | None:
    return None if obj is None else _block_id(obj, what)


def _list(obj: object, what: str, max_items: int) -> list[Any]:
    if type(obj) is not list or len(obj) > max_items:
        raise DecodeError(f"{what}: expected an array of at most {max_items} items")
    return obj


# ---------------------------------------------------------------- proposals and votes


def proposal_to_obj(p: Proposal) -> list[object]:
    return [p.height, p.round, p.valid_round, p.block_id, p.proposer, p.signature]


def proposal_from_obj(obj: object) -> Proposal:
    f = _fields(obj, "proposal", 6)
    height = _int(f[0], "proposal height", 0, MAX_HEIGHT)
    round_ = _int(f[1], "proposal round", 0, MAX_ROUND)
    valid_round = _int(f[2], "proposal valid_round", -1, round_ - 1)
    block_id = _block_id(f[3], "proposal block_id")
    proposer = _bytes(f[4], "proposal proposer", PUBLIC_KEY_SIZE)
    signature = _bytes(f[5], "proposal signature", SIGNATURE_SIZE)
    return Proposal(height, round_, valid_round, block_id, proposer, signature)


def vote_to_obj(v: Vote) -> list[object]:
    return [int(v.type), v.height, v.round, v.block_id, v.validator, v.signature]


def vote_from_obj(obj: object) -> Vote:
    f = _fields(obj, "vote", 6)
    vote_type = VoteType(_int(f[0], "vote type", VoteType.PREVOTE, VoteType.PRECOMMIT))
    height = _int(f[1], "vote height", 0, MAX_HEIGHT)
    round_ = _int(f[2], "vote round", 0, MAX_ROUND)
    block_id = _optional_block_id(f[3], "vote block_id")
    validator = _bytes(f[4], "vote validator", PUBLIC_KEY_SIZE)
    signature = _bytes(f[5], "vote signature", SIGNATURE_SIZE)
    return Vote(vote_type, height, round_, block_id, validator, signature)


def commit_to_obj(c: Commit) -> list[object]:
    return [c.height, c.round, c.block_id, [vote_to_obj(v) for v in c.precommits]]


def commit_from_obj(obj: object) -> Commit:
    f = _fields(obj, "commit", 4)
    height = _int(f[0], "commit height", 0, MAX_HEIGHT)
    round_ = _int(f[1], "commit round", 0, MAX_ROUND)
    block_id = _block_id(f[2], "commit block_id")
    votes = tuple(vote_from_obj(v) for v in _list(f[3], "commit precommits", MAX_VALIDATORS))
    return Commit(height, round_, block_id, votes)


def evidence_to_obj(e: DuplicateVoteEvidence) -> list[object]:
    return [vote_to_obj(e.vote_a), vote_to_obj(e.vote_b)]


def evidence_from_obj(obj: object) -> DuplicateVoteEvidence:
    f = _fields(obj, "evidence", 2)
    return DuplicateVoteEvidence(vote_from_obj(f[0]), vote_from_obj(f[1]))


# ---------------------------------------------------------------- validator sets


def validate_validator_set(validators: ValidatorSet) -> None:
    """Raise ValueError unless the set is non-empty, bounded and sorted by unique public key."""
    members = validators.validators
    if not isinstance(members, tuple) or not 1 <= len(members) <= MAX_VALIDATORS:
        raise ValueError(f"a validator set holds 1 to {MAX_VALIDATORS} validators")
    previous = b""
    for v in members:
        if not isinstance(v, Validator):
            raise ValueError("validator set members must be Validator values")
        if type(v.public_key) is not bytes or len(v.public_key) != PUBLIC_KEY_SIZE:
            raise ValueError("a validator public key is 32 bytes")
        if type(v.power) is not int or not 1 <= v.power <= MAX_POWER:
            raise ValueError(f"validator power must be an int in [1, {MAX_POWER}]")
        if type(v.name) is not str or len(v.name) > MAX_NAME_CHARS:
            raise ValueError(f"validator name must be a str of at most {MAX_NAME_CHARS} chars")
        if v.public_key <= previous:
            raise ValueError("validators must be sorted by public key, without duplicates")
        previous = v.public_key


def validator_set_to_obj(s: ValidatorSet) -> list[object]:
    return [[v.public_key, v.power, v.name] for v in s.validators]


def validator_set_from_obj(obj: object) -> ValidatorSet:
    members = []
    for item in _list(obj, "validator set", MAX_VALIDATORS):
        f = _fields(item, "validator", 3)
        if type(f[2]) is not str:
            raise DecodeError("validator name: expected a str")
        members.append(Validator(f[0], f[1], f[2]))
    result = ValidatorSet(tuple(members))
    try:
        validate_validator_set(result)
    except ValueError as exc:
        raise DecodeError(f"validator set: {exc}") from None
    return result


# ---------------------------------------------------------------- sign state


def _record_to_obj(r: SignedRecord | None) -> list[object] | None:
    if r is None:
        return None
    return [r.height, r.round, int(r.step), r.sign_bytes, r.signature]


def _record_from_obj(obj: object) -> SignedRecord | None:
    if obj is None:
        return None
    f = _fields(obj, "last_signed", 5)
    height = _int(f[0], "last_signed height", 0, MAX_HEIGHT)
    round_ = _int(f[1], "last_signed round", 0, MAX_ROUND)
    step = Step(_int(f[2], "last_signed step", Step.PROPOSE, Step.PRECOMMIT))
    if type(f[3]) is not bytes or not 1 <= len(f[3]) <= MAX_SIGN_BYTES:
        raise DecodeError("last_signed sign_bytes: expected 1 to 1024 bytes")
    signature = _bytes(f[4], "last_signed signature", SIGNATURE_SIZE)
    return SignedRecord(height, round_, step, f[3], signature)


def sign_state_to_obj(s: SignState) -> list[object]:
    return [
        s.height,
        s.round,
        int(s.step),
        s.locked_round,
        s.locked_value,
        s.valid_round,
        s.valid_value,
        _record_to_obj(s.last_signed),
        [vote_to_obj(v) for v in s.valid_polka],
        [vote_to_obj(v) for v in s.own_votes],
    ]


def sign_state_from_obj(obj: object) -> SignState:
    f = _fields(obj, "sign state", 10)
    height = _int(f[0], "sign state height", 0, MAX_HEIGHT)
    round_ = _int(f[1], "sign state round", 0, MAX_ROUND)
    step = Step(_int(f[2], "sign state step", Step.PROPOSE, Step.PRECOMMIT))
    locked_round = _int(f[3], "locked_round", -1, round_)
    locked_value = _optional_block_id(f[4], "locked_value")
    valid_round = _int(f[5], "valid_round", -1, round_)
    valid_value = _optional_block_id(f[6], "valid_value")
    if (locked_round == -1) != (locked_value is None):
        raise DecodeError("locked_value must be set exactly when locked_round >= 0")
    if (valid_round == -1) != (valid_value is None):
        raise DecodeError("valid_value must be set exactly when valid_round >= 0")
    last = _record_from_obj(f[7])
    if last is not None and (last.height, last.round, last.step) > (height, round_, step):
        raise DecodeError("last_signed is ahead of the sign state's own (height, round, step)")
    polka = tuple(vote_from_obj(v) for v in _list(f[8], "valid_polka", MAX_VALIDATORS))
    if any(
        (v.type, v.height, v.round, v.block_id)
        != (VoteType.PREVOTE, height, valid_round, valid_value)
        for v in polka
    ) or len({v.validator for v in polka}) != len(polka):
        raise DecodeError("valid_polka: one prevote per validator for valid_value in valid_round")
    own = tuple(vote_from_obj(v) for v in _list(f[9], "own_votes", MAX_KEPT_OWN_VOTES))
    slots = {(v.round, v.type) for v in own}
    if (
        len(slots) != len(own)
        or len({v.validator for v in own}) > 1
        or any(v.height != height or v.round > round_ for v in own)
    ):
        raise DecodeError("own_votes: one validator's votes at this height, one per round and type")
    return SignState(
        height, round_, step, locked_round, locked_value, valid_round, valid_value, last, polka, own
    )


# ---------------------------------------------------------------- bytes in, bytes out


def encode_proposal(p: Proposal) -> bytes:
    return pack_values(proposal_to_obj(p))


def decode_proposal(data: bytes) -> Proposal:
    return decode_with(data, proposal_from_obj)


def encode_vote(v: Vote) -> bytes:
    return pack_values(vote_to_obj(v))


def decode_vote(data: bytes) -> Vote:
    return decode_with(data, vote_from_obj)


def encode_commit(c: Commit) -> bytes:
    return pack_values(commit_to_obj(c))


def decode_commit(data: bytes) -> Commit:
    return decode_with(data, commit_from_obj)


def encode_evidence(e: DuplicateVoteEvidence) -> bytes:
    return pack_values(evidence_to_obj(e))


def decode_evidence(data: bytes) -> DuplicateVoteEvidence:
    return decode_with(data, evidence_from_obj)


def encode_validator_set(s: ValidatorSet) -> bytes:
    return packb(validator_set_to_obj(s))


def decode_validator_set(data: bytes) -> ValidatorSet:
    return decode_with(data, validator_set_from_obj)


def encode_sign_state(s: SignState) -> bytes:
    return packb(sign_state_to_obj(s))


def decode_sign_state(data: bytes) -> SignState:
    return decode_with(data, sign_state_from_obj)
