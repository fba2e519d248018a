"""The (step, input kind) dispatch table of the core, as data.

Each entry names the `ConsensusCore` method that handles an input kind in a step. Proposals,
votes, validity verdicts and timeoutPrecommit (line 65 checks only height and round) are handled
in every step; timeoutPropose, timeoutPrevote and a supplied proposal value act only in their
own step and are otherwise stale (`_ignore`). `kind_of` classifies an event, or says why it is
malformed, before any state is touched.
"""

from __future__ import annotations

from consensus import events as ev
from consensus.admission import hrs_problem, proposal_problem, vote_problem
from consensus.messages import Step

INPUT_KINDS = (
    "proposal",
    "vote",
    "timeout_propose",
    "timeout_prevote",
    "timeout_precommit",
    "value",
    "verdict",
)


_TIMEOUT_KINDS = {step: f"timeout_{step.name.lower()}" for step in Step}


def kind_of(event: object) -> tuple[str, str | None]:
    """The dispatch kind of an event, and None or the reason it is malformed."""
    if isinstance(event, ev.ProposalReceived):
        return "proposal", proposal_problem(event.proposal)
    if isinstance(event, ev.VoteReceived):
        return "vote", vote_problem(event.vote)
    if isinstance(event, ev.TimeoutElapsed):
        problem = hrs_problem(event.height, event.round, event.step)
        return ("timeout", problem) if problem else (_TIMEOUT_KINDS[event.step], None)
    if isinstance(event, ev.ProposalValueSupplied):
        return "value", None
    if isinstance(event, ev.ValidityVerdict):
        return "verdict", None
    return "", f"unknown event type {type(event).__name__}"


def _build() -> dict[tuple[Step, str], str]:
    table: dict[tuple[Step, str], str] = {}
    for step in Step:
        table[step, "proposal"] = "_on_proposal"
        table[step, "vote"] = "_on_vote"
        table[step, "timeout_precommit"] = "_on_timeout_precommit"
        table[step, "verdict"] = "_on_verdict"
        table[step, "timeout_propose"] = "_ignore"
        table[step, "timeout_prevote"] = "_ignore"
        table[step, "value"] = "_ignore"
    table[Step.PROPOSE, "timeout_propose"] = "_on_timeout_propose"
    table[Step.PREVOTE, "timeout_prevote"] = "_on_timeout_prevote"
    table[Step.PROPOSE, "value"] = "_on_value"
    return table


DISPATCH: dict[tuple[Step, str], str] = _build()
"""(step, input kind) -> name of the ConsensusCore method that handles it."""
