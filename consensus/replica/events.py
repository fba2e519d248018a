"""The replica's vocabulary: events in, effects out, each event with an integer `now_ms`.

Peer messages cross this boundary as bytes, so decoding (and rejecting garbage) is the replica's
job and both drivers exercise it. Writes to the store are effects (`PersistSignState`,
`CommitBlock`), executed by the driver in order: nothing after a persist effect is sent before
the persist is durable. Reads of committed data go to the injected `Store` directly.
"""

from __future__ import annotations

import attrs

from consensus.interfaces import HeightRecord, TxAdmission, TxResult
from consensus.messages import BlockId, DuplicateVoteEvidence, Step

# ---------------------------------------------------------------- timers


@attrs.frozen
class ConsensusTimer:
    """A timeout of Algorithm 1; stale ones (other height/round/step) are no-ops."""

    height: int
    round: int
    step: Step


@attrs.frozen
class ReplicaTimer:
    """A replica housekeeping timer: periodic status gossip, empty-block interval, retries."""

    name: str


Timer = ConsensusTimer | ReplicaTimer

# ---------------------------------------------------------------- events (in)


@attrs.frozen
class MessageReceived:
    peer: bytes  # the sender's authenticated validator key
    payload: bytes  # one encoded wire message


@attrs.frozen
class TimerFired:
    timer: Timer


@attrs.frozen
class TxSubmitted:
    """A client transaction submitted to this validator (not gossip from a peer)."""

    tx: bytes


@attrs.frozen
class PeerConnected:
    peer: bytes


@attrs.frozen
class PeerDisconnected:
    peer: bytes


ReplicaEvent = MessageReceived | TimerFired | TxSubmitted | PeerConnected | PeerDisconnected

# ---------------------------------------------------------------- effects (out)


@attrs.frozen
class PersistSignState:
    """Save `data` with `Store.save_sign_state` (synced) before executing any later effect."""

    data: bytes


@attrs.frozen
class CommitBlock:
    """Save `record` with `Store.save_height` (one atomic, synced write) before going on."""

    record: HeightRecord
    block_id: BlockId
    results: tuple[TxResult, ...]


@attrs.frozen
class SendTo:
    peer: bytes
    payload: bytes


@attrs.frozen
class BroadcastPayload:
    """Send `payload` to every connected peer."""

    payload: bytes


@attrs.frozen
class SetTimer:
    """Deliver `TimerFired(timer)` at `deadline_ms`. Timers are never cancelled."""

    deadline_ms: int
    timer: Timer


@attrs.frozen
class EvidenceFound:
    evidence: DuplicateVoteEvidence


@attrs.frozen
class TxAdmitted:
    """The mempool's verdict on a `TxSubmitted` (for the client API)."""

    admission: TxAdmission


@attrs.frozen
class PeerMisbehaved:
    """A peer sent something invalid; the driver logs it and may score or drop the peer."""

    peer: bytes
    reason: str


ReplicaEffect = (
    PersistSignState
    | CommitBlock
    | SendTo
    | BroadcastPayload
    | SetTimer
    | EvidenceFound
    | TxAdmitted
    | PeerMisbehaved
)
