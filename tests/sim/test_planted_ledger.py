"""The planted ledger bugs (`sim.plants.ledger`): each is caught on a default swarm seed, the clean
build passes that seed, and the judge the simulator had before the reference model (re-running
blocks with the ledger's own `LedgerApp`, plus the invariants) passes the planted run: the
bug is one only an independent model of the rules can see.

Each bug's detecting seed is the first default seed that catches it with the clean build passing,
as `python bench/sim_bugs.py --bug NAME` finds it, searched within a bound (`DEFAULT_SEEDS`).
"""

from __future__ import annotations

import functools
import re

import pytest

from consensus.interfaces import HeightRecord
from consensus.replica.block import Block
from consensus.replica.chain import check_execution
from ledger.app import LedgerApp
from ledger.invariants import check_ledger_invariants
from sim.catch import Attempt, first_catch
from sim.checkers import Violation
from sim.reference import Outcome as ModelOutcome
from sim.result import Outcome, RunResult, RunSpec
from sim.runner import Simulation

BUGS = ("frozen_recipient_credited", "transfer_applied_twice")
DEFAULT_SEEDS = range(30)  # each was first caught on seed 2 or 3 at the time of writing


@functools.cache
def _catch(bug: str) -> Attempt | None:
    """The first default seed the reference model catches `bug` on, the clean build passing."""
    return first_catch(bug, DEFAULT_SEEDS, accept=lambda r: "reference model" in r.reason)


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


@pytest.mark.parametrize("bug", BUGS)
def test_a_planted_ledger_bug_is_caught_on_a_default_seed_the_clean_build_passes(bug: str) -> None:
    catch = _catch(bug)
    assert catch is not None, f"{bug}: the reference model caught it on no seed of {DEFAULT_SEEDS}"
    assert catch.planted.outcome is Outcome.SAFETY, catch.planted.summary_line()
    assert catch.clean is not None and catch.clean.outcome is Outcome.PASS


@pytest.mark.parametrize("bug", BUGS)
def test_the_judge_that_shared_the_ledgers_code_passes_the_planted_run(bug: str) -> None:
    catch = _catch(bug)
    assert catch is not None
    caught_at = re.search(r"height (\d+)", catch.planted.reason)
    assert caught_at is not None, catch.planted.reason
    sim, result = _run(catch.seed, (bug,), old_judge=True)
    assert result.outcome is Outcome.PASS, result.summary_line()
    # It judged the very height the reference model caught the bug at, and saw nothing wrong.
    assert sim.oracle.heights >= int(caught_at.group(1))
