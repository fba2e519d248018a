"""The planted ledger bugs (`sim.plants.ledger`): each is caught on a default swarm seed, the clean
build passes that seed, and the judge the simulator had before the reference model (re-running
blocks with the ledger's own `LedgerApp`, plus the invariants) passes the planted run: the
bug is one only an independent model of the rules can see.

The detecting seeds are the first ones `python bench/sim_bugs.py --bug NAME` finds.
"""

from __future__ import annotations

import pytest

from consensus.interfaces import HeightRecord
from consensus.replica.block import Block
from consensus.replica.chain import check_execution
from ledger.app import LedgerApp
from ledger.invariants import check_ledger_invariants
from sim.checkers import Violation
from sim.reference import Outcome as ModelOutcome
from sim.result import Outcome, RunResult, RunSpec
from sim.runner import Simulation

DETECTING_SEED = {"transfer_applied_twice": 2, "frozen_recipient_credited": 2}


class SharedCodeJudge:
    """The old oracle: a private `LedgerApp` re-executes each decided block and the ledger's
    invariants are checked on its state; the app hash must match the validators'."""

    def __init__(self, sim: Simulation) -> None:
        self.app = LedgerApp(sim.world.genesis, sim.world.scheme)

    def judge(
        self, height: int, block: Block, record: HeightRecord, outcomes: list[ModelOutcome]
    ) -> None:
        header = block.header
        reason = self.app.validate_block_txs(height, header.time_ms, block.txs)
        if reason is None:
            execution = self.app.execute_block(height, header.time_ms, block.txs)
            reason = check_execution(header, execution)
            if reason is None and execution.app_hash != record.app_hash:
                reason = "the app hash differs from a fresh execution"
        if reason is not None:
            raise Violation(Outcome.SAFETY, f"height {height}: {reason}")
        self.app.apply(execution)
        check_ledger_invariants(self.app.state)


def _run(
    seed: int, bugs: tuple[str, ...], *, old_judge: bool = False
) -> tuple[Simulation, RunResult]:
    sim = Simulation(RunSpec(seed, {"bugs": bugs} if bugs else {}))
    if old_judge:
        sim.oracle.judge = SharedCodeJudge(sim).judge  # type: ignore[method-assign]
        sim.oracle.clients.enabled = False
    return sim, sim.run()


@pytest.mark.parametrize("bug", sorted(DETECTING_SEED))
def test_a_planted_ledger_bug_is_caught_on_its_default_seed(bug: str) -> None:
    seed = DETECTING_SEED[bug]
    _, planted = _run(seed, (bug,))
    assert planted.outcome is Outcome.SAFETY, planted.summary_line()
    assert "reference model" in planted.reason
    _, clean = _run(seed, ())
    assert clean.outcome is Outcome.PASS, clean.summary_line()


@pytest.mark.parametrize("bug", sorted(DETECTING_SEED))
def test_the_judge_that_shared_the_ledgers_code_passes_the_planted_run(bug: str) -> None:
    sim, result = _run(DETECTING_SEED[bug], (bug,), old_judge=True)
    assert result.outcome is Outcome.PASS, result.summary_line()
    assert sim.oracle.heights > 3
