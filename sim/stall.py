"""The evidence printed with a liveness failure: where each stuck core instance is, and why.

For every lagging core instance: its committed height, its (height, round, step), and its
lock and valid value with the instances that hold each block (in memory, in the kept record of
their sign state, or committed). A lock on a block nobody holds is named as what it is: data a
correct validator needed and lost, i.e. a bug (see sim/liveness.py), not an excuse.
"""

from __future__ import annotations

from consensus.codec import DecodeError, decode_sign_record
from consensus.messages import BlockId
from consensus.replica.block import block_id, decode_block
from consensus.replica.wire import MAX_WIRE_BYTES
from sim.node import SimNode, Status


def holders(nodes: list[SimNode], value: BlockId, height: int) -> list[str]:
    """Names of the instances holding block `value` of `height`: in memory (up or paused),
    in the blocks kept with their sign state, or committed in their store (down instances
    are not inspected)."""
    found = []
    for node in nodes:
        replica = node.replica if node.status is not Status.DOWN else None
        if replica is not None and replica.height == height and replica.holds_block(value):
            found.append(node.name)
            continue
        raw_state, raw_block = _durable(node, height)
        if raw_state is not None and _kept_holds(raw_state, value):
            found.append(f"{node.name} (kept)")
        elif (
            raw_block is not None
            and block_id(decode_block(raw_block, MAX_WIRE_BYTES).header) == value
        ):
            found.append(f"{node.name} (committed)")
    return found


def _durable(node: SimNode, height: int) -> tuple[bytes | None, bytes | None]:
    """(sign state, committed block at `height`) in `node`'s open store; a down instance's
    disk is not opened here (that would write to it), so it counts as holding nothing."""
    if node.store is None:
        return None, None
    return node.store.load_sign_state(), node.store.load_block(height)


def _kept_holds(raw_state: bytes, value: BlockId) -> bool:
    try:
        _, blocks = decode_sign_record(raw_state)
        return any(block_id(decode_block(b, MAX_WIRE_BYTES).header) == value for b in blocks)
    except DecodeError:
        return False


def describe(nodes: list[SimNode], stuck: list[SimNode], committed: dict[int, int]) -> str:
    """One clause per stuck instance, '; '-separated, and what a lock on a lost block means."""
    parts = []
    lost = False
    for node in stuck:
        height = committed[node.index] + 1
        replica = node.replica
        if replica is None or node.status is Status.DOWN:
            parts.append(f"{node.name} at {committed[node.index]}: down")
            continue
        core = replica.core
        state = core.sign_state
        where = f"{node.name} at {committed[node.index]} (h{core.height} r{core.round} "
        where += f"{core.step.name.lower()})"
        values: list[str] = []
        for what, value, rnd in (
            ("locked", state.locked_value, state.locked_round),
            ("valid", state.valid_value, state.valid_round),
        ):
            if value is None or state.height != height:
                continue
            if what == "valid" and (value, rnd) == (state.locked_value, state.locked_round):
                values[-1] = values[-1].replace("locked", "locked+valid", 1)
                continue
            held = holders(nodes, value, height)
            lost = lost or not held
            values.append(f"{what} {value[:4].hex()}@r{rnd} held by {', '.join(held) or 'nobody'}")
        parts.append(where + (": " + ", ".join(values) if values else ""))
    text = "; ".join(parts)
    if lost:
        text += " (a correct validator locked on a block nobody holds lost data its lock needs)"
    return text
