"""Planted bugs: the catalogue of plausible mistakes the simulator must catch, and how to plant one.

Why: a simulator earns trust only by catching bugs it was not written around (REFERENCES.md,
"Simulator"). Each entry names a mistake someone could plausibly make in consensus/, the
replica, the ledger or the store, and the class of simulator gap it proves closed:

    core       the original consensus-core switches (`consensus.core.KNOWN_BUGS`)
    oracle     an oracle that shares the code it judges (independent reference model, clients)
    adversary  a Byzantine behaviour the honest code must withstand
    workload   a feature the workload must exercise (compliance paths, every tx kind)
    rules      a protocol rule only a trace oracle sees (timeouts, round skip)
    stall      a run that commits nothing must not pass
    storage    torn and lost writes at the store boundary (power cuts)

Two ways to plant a bug. A *core flag* is a test-only switch the consensus core already carries;
the stack passes it through `ReplicaConfig.bugs`. A *patch* is a context manager that replaces
one function of production code for the duration of a run and restores it afterwards, so the
production code carries no switch at all. Patches are process-global: a process runs one
planted run at a time (the runner plants around a whole run; sweeps give each run a process).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager

import attrs

CLASSES: tuple[str, ...] = ("core", "oracle", "adversary", "workload", "rules", "stall", "storage")


@attrs.frozen
class PlantedBug:
    name: str
    klass: str  # one of CLASSES
    summary: str  # what the mistake is, in one line
    core_flag: bool = False  # True: a `consensus.core.KNOWN_BUGS` switch
    patch: str = ""  # "module:function" returning a context manager that plants the bug

    def plant(self) -> AbstractContextManager[None]:
        """Enter to plant the bug, exit to remove it (a no-op for core flags)."""
        if not self.patch:
            return contextlib.nullcontext()
        module, _, function = self.patch.partition(":")
        factory: Callable[[], AbstractContextManager[None]] = getattr(
            importlib.import_module(module), function
        )
        return factory()


def _core(name: str, summary: str) -> PlantedBug:
    return PlantedBug(name, "core", summary, core_flag=True)


def _ledger(name: str, klass: str, summary: str) -> PlantedBug:
    return PlantedBug(name, klass, summary, patch=f"sim.plants.ledger:{name}")


def _adversary(name: str, summary: str) -> PlantedBug:
    return PlantedBug(name, "adversary", summary, patch=f"sim.plants.adversary:{name}")


def _storage(name: str, summary: str) -> PlantedBug:
    return PlantedBug(name, "storage", summary, patch=f"sim.plants.storage:{name}")


CATALOGUE: tuple[PlantedBug, ...] = (
    _core("no_lock_check_line22", "line 22 prevotes a fresh proposal while locked on another"),
    _core("double_count_vote", "a validator's repeated vote counts twice"),
    _core("send_before_persist", "a signature leaves before its sign state is durable"),
    _core("skip_valid_update_line36", "line 36 forgets to update validValue/validRound"),
    _core("repropose_locked_value", "the proposer re-proposes lockedValue, not validValue"),
    # adversary: each exposed by one strategy of sim.byzantine (named first)
    _adversary("line28_without_polka", "lie_vr: line 28 takes vr >= 0 without the round-vr polka"),
    _adversary("line28_polka_any_value", "lie_vr: line 28 takes a round-vr polka of any value"),
    _adversary("proposer_unchecked", "usurp: a proposal is admitted from any validator"),
    _adversary("catchup_ignores_power", "forge: catch-up checks signatures, not their power"),
    _adversary("catchup_ignores_block", "forge: catch-up checks a certificate, not its block"),
    _adversary("chain_id_not_signed", "cross_chain: sign bytes leave out the chain id"),
    _adversary("previous_height_admitted", "replay: votes of the previous height are admitted"),
    # storage: exposed only by writes that are not durable yet when a crash or power cut lands
    _storage("sign_state_unsynced", "the sign state is committed without a sync"),
    _storage("height_pointer_apart", "a height's pointer is committed apart from its data"),
    _storage("send_before_durable", "the executor sends before the sign-state write is durable"),
    _storage("block_write_last", "the executor saves a block after the next height's effects"),
    # oracle and workload: ledger bugs only an independent model of the rules sees
    _ledger("transfer_applied_twice", "oracle", "a transfer applied twice if the sender can pay"),
    _ledger("frozen_recipient_credited", "workload", "a frozen account still receives money"),
    # New entries go below, one line each, in the class's section (a patch lives in
    # sim/plants/<area>.py and is named here as "sim.plants.<area>:<function>").
)

BY_NAME: dict[str, PlantedBug] = {bug.name: bug for bug in CATALOGUE}
assert len(BY_NAME) == len(CATALOGUE), "planted bug names must be unique"
assert all(bug.klass in CLASSES for bug in CATALOGUE)
assert all(bug.core_flag != bool(bug.patch) for bug in CATALOGUE), "a flag or a patch, not both"

NAMES: tuple[str, ...] = tuple(bug.name for bug in CATALOGUE)


def core_flags(names: Iterable[str]) -> frozenset[str]:
    """The subset of `names` the consensus core plants itself (for `ReplicaConfig.bugs`)."""
    return frozenset(name for name in names if BY_NAME[name].core_flag)


@contextlib.contextmanager
def planted(names: Iterable[str]) -> Iterator[None]:
    """Plant every patched bug of `names` for the duration of the block (flags need nothing)."""
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(BY_NAME[name].plant())
        yield
