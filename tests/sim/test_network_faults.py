from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from sim.faults import Fault, build_schedule, select
from sim.network import Network
from sim.swarm import derive_config

CALM = {
    "faults": (),
    "latency_min_ms": 5,
    "latency_mean_ms": 5,
    "validators": 4,
    "byzantine": (),
    "twins": (),
}


def _net(**overrides: object) -> Network:
    return Network(derive_config(1, {**CALM, **overrides}), 4, random.Random(3))


def _kind(name: str) -> Callable[[], str]:
    return lambda: name


def test_latency_is_bounded_below_and_delivery_happens_without_faults() -> None:
    net = _net()
    for _ in range(200):
        (at,) = net.route(0, 1, 1000, _kind("prevote"))
        assert at >= 1000 + 5
    assert net.stats.sent == 200 and net.stats.dropped_loss == 0


def test_partitions_cut_links_symmetrically_or_one_way() -> None:
    net = _net()
    halves = Fault(0, "partition", 0, 100, groups=((0, 1), (2, 3)), mode="halves")
    net.start_fault(halves)
    assert net.route(0, 2, 0, _kind("x")) == () and net.route(3, 1, 0, _kind("x")) == ()
    assert len(net.route(0, 1, 0, _kind("x"))) == 1
    assert not net.connected(0, 2) and net.connected(2, 3)
    net.end_fault(halves)
    one_way = attrs.evolve(halves, asymmetric=True)
    net.start_fault(one_way)
    assert len(net.route(0, 2, 0, _kind("x"))) == 1  # groups[0] -> groups[1] still flows
    assert net.route(2, 0, 0, _kind("x")) == ()  # groups[1] -> groups[0] is cut
    assert not net.connected(0, 2)


def test_a_clogged_link_holds_messages_until_it_unclogs_and_filters_drop_one_kind() -> None:
    net = _net()
    net.start_fault(Fault(0, "clog", 100, 900, nodes=(0, 1)))
    (at,) = net.route(0, 1, 150, _kind("x"))
    assert at >= 900
    (other,) = net.route(1, 0, 150, _kind("x"))
    assert other < 900
    net.start_fault(Fault(1, "filter", 0, 1000, nodes=(2,), message_kind="precommit"))
    assert net.route(2, 3, 0, _kind("precommit")) == ()
    assert len(net.route(2, 3, 0, _kind("prevote"))) == 1
    assert len(net.route(3, 2, 0, _kind("precommit"))) == 1
    assert net.stats.dropped_filter == 1 and net.stats.clogged == 1


def test_loss_and_duplication_follow_their_rates_and_heal_stops_them() -> None:
    net = _net(faults=("loss", "duplicate"), loss=0.3, duplicate=0.3)
    outcomes = [len(net.route(0, 1, 0, _kind("x"))) for _ in range(2000)]
    assert 450 < outcomes.count(0) < 750
    assert 300 < outcomes.count(2) < 600
    net.heal()
    assert all(len(net.route(0, 1, 0, _kind("x"))) == 1 for _ in range(300))


def test_the_schedule_is_deterministic_and_classes_do_not_shift_each_other() -> None:
    overrides = {"faults": ("partition", "crash", "pause"), "safety_ms": 20_000}
    both = build_schedule(derive_config(5, overrides))
    assert both == build_schedule(derive_config(5, overrides))
    assert {f.kind for f in both} == {"partition", "crash", "pause"}
    assert [f.index for f in both] == list(range(len(both)))
    assert all(0 <= f.start_ms < f.end_ms <= 20_000 for f in both)
    no_pause = build_schedule(derive_config(5, {**overrides, "faults": ("partition", "crash")}))
    strip = [attrs.evolve(f, index=0) for f in both if f.kind != "pause"]
    assert strip == [attrs.evolve(f, index=0) for f in no_pause]
    kept = select(both, (0, 2))
    assert [f.index for f in kept] == [0, 2]
