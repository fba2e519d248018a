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
MAX_SIGN_RECORD_BYTES = 32 << 20
"""A sign state with its kept blocks (two blocks of the largest wire size fit)."""

T = TypeVar("T")


class DecodeError(ValueError):
    """Bytes (or a decoded object) that are not the canonical encoding of the expected value."""


# ---------------------------------------------------------------- generic canonical msgpack


_SCALARS = frozenset({bytes, str, int, bool, type(None)})


def _canonical(obj: object, depth: int = 0) -> object:
    """`obj` with every map's items sorted by key; TypeError for types we never encode."""
    if depth > MAX_DEPTH:
        raise TypeError("nested too deeply")
    if obj is None or isinstance(obj, (bool, int, bytes, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        # Scalars inline: a block or a batch is a long list of bytes, walked on every decode.
        return [item if type(item) in _SCALARS else _canonical(item, depth + 1) for item in obj]
    if isinstance(obj, dict):
        return {key: _canonical(obj[key], depth + 1) for key in sorted(obj)}
    raise TypeError(f"cannot encode {type(obj).__name__} canonically")


_PACKER = msgpack.Packer(use_bin_type=True)
"""One packer for every encoding: `msgpack.packb` builds (and allocates a buffer for) a new
`Packer` per call, which costs as much as packing a vote. `pack` resets the packer when it
returns or raises, and runs with the GIL held throughout (no callbacks are configured), so
threads cannot interleave on it."""


def _plain(items: list[Any] | tuple[Any, ...], depth: int) -> bool:
    """True if `items` (an array at nesting `depth`) holds only scalars of exactly the types
    `_canonical` passes through and arrays of them, nested no deeper than `_canonical` allows:
    then `_canonical` would only copy it, and msgpack encodes it as it is."""
    for item in items:
        kind = type(item)
        if kind in _SCALARS:
            continue
        if (kind is list or kind is tuple) and depth < MAX_DEPTH and _plain(item, depth + 1):
            continue
        return False
    return True


def packb(obj: object) -> bytes:
    """The canonical msgpack encoding of a tree of None/bool/int/bytes/str/list/tuple/dict."""
    kind = type(obj)
    if (kind is list or kind is tuple) and _plain(obj, 0):  # type: ignore[arg-type]
        plain: bytes = _PACKER.pack(obj)  # no map to sort: skip the copy
        return plain
    result: bytes = _PACKER.pack(_canonical(obj))
    return result


def pack_values(obj: list[object]) -> bytes:
    """Canonical encoding of a tree of lists and scalars without maps (our values, sign bytes):
    the same bytes as `packb`, without its walk."""
    result: bytes = _PACKER.pack(obj)
    return result


def _refuse_ext(code: int, data: bytes) -> object:
    raise DecodeError(f"msgpack extension type {code} is not allowed")


def unpackb_canonical(data: bytes, max_size: int = MAX_MESSAGE_BYTES) -> object:
    """Decode one msgpack object, refusing oversize, trailing bytes or a non-canonical form."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
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


_VOTE_TYPES = {int(t): t for t in VoteType}  # a dict lookup: cheaper than the Enum's call


_PREVOTE, _PRECOMMIT = int(VoteType.PREVOTE), int(VoteType.PRECOMMIT)


def vote_from_obj(obj: object) -> Vote:
    # Votes are decoded more than anything else: a well-formed one is accepted by the same
    # checks written out in one expression; anything else goes through the field-by-field
    # version, which names what is wrong.
    if type(obj) is list and len(obj) == 6:
        kind, height, round_, block_id, validator, signature = obj
        if (
            type(kind) is int
            and _PREVOTE <= kind <= _PRECOMMIT
            and type(height) is int
            and 0 <= height <= MAX_HEIGHT
            and type(round_) is int
            and 0 <= round_ <= MAX_ROUND
            and (block_id is None or (type(block_id) is bytes and len(block_id) == BLOCK_ID_SIZE))
            and type(validator) is bytes
            and len(validator) == PUBLIC_KEY_SIZE
            and type(signature) is bytes
            and len(signature) == SIGNATURE_SIZE
        ):
            return Vote(_VOTE_TYPES[kind], height, round_, block_id, validator, signature)
    return _vote_from_fields(obj)


def _vote_from_fields(obj: object) -> Vote:
    f = _fields(obj, "vote", 6)
    vote_type = _VOTE_TYPES[_int(f[0], "vote type", VoteType.PREVOTE, VoteType.PRECOMMIT)]
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


_STEPS = {int(step): step for step in Step}  # a dict lookup: cheaper than the Enum's call


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
    step = _STEPS[_int(f[2], "last_signed step", Step.PROPOSE, Step.PRECOMMIT)]
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
    # Decoded at every persist by the simulator's checker: well-formed scalar fields are
    # accepted by the same checks in one expression (the votes then go through the same
    # checks as below); anything else goes field by field, naming the fault.
    if type(obj) is list and len(obj) == 10:
        height, round_, step, locked_round, locked_value, valid_round, valid_value, last = obj[:8]
        if (
            type(height) is int
            and 0 <= height <= MAX_HEIGHT
            and type(round_) is int
            and 0 <= round_ <= MAX_ROUND
            and type(step) is int
            and _PROPOSE_STEP <= step <= _PRECOMMIT_STEP
            and type(locked_round) is int
            and -1 <= locked_round <= round_
            and (locked_round == -1) == (locked_value is None)
            and (locked_value is None or _is_block_id(locked_value))
            and type(valid_round) is int
            and -1 <= valid_round <= round_
            and (valid_round == -1) == (valid_value is None)
            and (valid_value is None or _is_block_id(valid_value))
            and (last is None or _record_ok(last, (height, round_, step)))
        ):
            record = None
            if last is not None:
                h, r, s, sign_bytes, signature = last
                record = SignedRecord(h, r, _STEPS[s], sign_bytes, signature)
            polka, own = _sign_state_votes(obj[8], obj[9], height, round_, valid_round, valid_value)
            return SignState(
                height,
                round_,
                _STEPS[step],
                locked_round,
                locked_value,
                valid_round,
                valid_value,
                record,
                polka,
                own,
            )
    return _sign_state_from_fields(obj)


_PROPOSE_STEP, _PRECOMMIT_STEP = int(Step.PROPOSE), int(Step.PRECOMMIT)


def _is_block_id(obj: object) -> bool:
    return type(obj) is bytes and len(obj) == BLOCK_ID_SIZE


def _record_ok(obj: object, at_most: tuple[int, int, int]) -> bool:
    """`_record_from_obj` would accept `obj`, and it is not ahead of `at_most` (h, r, step)."""
    if type(obj) is not list or len(obj) != 5:
        return False
    height, round_, step, sign_bytes, signature = obj
    return (
        type(height) is int
        and 0 <= height <= MAX_HEIGHT
        and type(round_) is int
        and 0 <= round_ <= MAX_ROUND
        and type(step) is int
        and _PROPOSE_STEP <= step <= _PRECOMMIT_STEP
        and type(sign_bytes) is bytes
        and 1 <= len(sign_bytes) <= MAX_SIGN_BYTES
        and type(signature) is bytes
        and len(signature) == SIGNATURE_SIZE
        and (height, round_, step) <= at_most
    )


def _sign_state_from_fields(obj: object) -> SignState:
    f = _fields(obj, "sign state", 10)
    height = _int(f[0], "sign state height", 0, MAX_HEIGHT)
    round_ = _int(f[1], "sign state round", 0, MAX_ROUND)
    step = _STEPS[_int(f[2], "sign state step", Step.PROPOSE, Step.PRECOMMIT)]
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
    polka, own = _sign_state_votes(f[8], f[9], height, round_, valid_round, valid_value)
    return SignState(
        height, round_, step, locked_round, locked_value, valid_round, valid_value, last, polka, own
    )


def _sign_state_votes(
    polka_obj: object,
    own_obj: object,
    height: int,
    round_: int,
    valid_round: int,
    valid_value: BlockId | None,
) -> tuple[tuple[Vote, ...], tuple[Vote, ...]]:
    """The sign state's valid polka and own votes, checked against its other fields."""
    polka = tuple(vote_from_obj(v) for v in _list(polka_obj, "valid_polka", MAX_VALIDATORS))
    if any(
        (v.type, v.height, v.round, v.block_id)
        != (VoteType.PREVOTE, height, valid_round, valid_value)
        for v in polka
    ) or len({v.validator for v in polka}) != len(polka):
        raise DecodeError("valid_polka: one prevote per validator for valid_value in valid_round")
    own = tuple(vote_from_obj(v) for v in _list(own_obj, "own_votes", MAX_KEPT_OWN_VOTES))
    slots = {(v.round, v.type) for v in own}
    if (
        len(slots) != len(own)
        or len({v.validator for v in own}) > 1
        or any(v.height != height or v.round > round_ for v in own)
    ):
        raise DecodeError("own_votes: one validator's votes at this height, one per round and type")
    return polka, own


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


def encode_sign_state(s: SignState, blocks: tuple[bytes, ...] = ()) -> bytes:
    """The sign state, with the blocks its lock and valid value name (see
    `decode_sign_record`); without them, the plain 10-field form (one encoding per value)."""
    obj = sign_state_to_obj(s)
    if blocks:
        obj.append(list(blocks))
    return packb(obj)


def decode_sign_state(data: bytes) -> SignState:
    return decode_sign_record(data)[0]


def decode_sign_record(data: bytes) -> tuple[SignState, tuple[bytes, ...]]:
    """(sign state, kept blocks) of a stored sign state.

    Why the extra field: a validator resumes its height with the lock and valid value of its
    sign state (and the polka behind the valid value), which are useless, even harmful,
    without the block they name: kept in memory only, a crash of its last holders loses it and
    a core locked on it stalls for good (consensus/replica/kept.py). The replica stores the
    encoded blocks (opaque here; up to two, locked and valid value) with the sign state."""
    obj = unpackb_canonical(data, MAX_SIGN_RECORD_BYTES)
    if type(obj) is not list or len(obj) not in (10, 11):
        raise DecodeError("sign state: expected an array of 10 or 11 fields")
    state = sign_state_from_obj(obj[:10])
    if len(obj) == 10:
        return state, ()
    blocks = tuple(_list(obj[10], "kept blocks", 2))
    if not blocks or any(type(b) is not bytes or not b for b in blocks):
        raise DecodeError("kept blocks: expected one or two non-empty bytes")
    return state, blocks
