"""The operator's metrics on four real validator processes, and the files built on them.

Each metric the node exports must move when its event happens (a commit, a client's tx, a
peer going away), read from `/metrics` as Prometheus reads it; then the shipped Grafana
dashboard and Prometheus alert rules (`deploy/`) may name only metrics a running node really
exports, so neither can silently point at a metric that was renamed or never existed.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import trio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ledger.tx import RegisterParticipant
from network.client import DepositClient
from network.localnet import LocalNetwork
from tests.network.netcheck import NetProbe

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana-dashboard.json"
ALERTS = DEPLOY / "prometheus-alerts.yml"
METRIC_NAME = re.compile(r"\bdepositnet_[a-z0-9_]+\b")
FINAL_TIMEOUT_S = 60.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(probe: NetProbe, index: int) -> Samples:
    response = await probe.get(index, "/metrics")
    if response is None or response.status_code != 200:
        probe.fail(f"node {index} serves no /metrics", [index])
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def wait_metric(
    probe: NetProbe, index: int, what: str, ok: Any, deadline_s: float = 60.0
) -> Samples:
    """Scrape node `index` until `ok(samples)`; the samples that satisfied it."""
    found: list[Samples] = []

    async def check() -> bool:
        samples = await scrape(probe, index)
        if ok(samples):
            found.append(samples)
            return True
        return False

    await probe.wait_until(check, what, nodes=[index], deadline_s=deadline_s)
    return found[0]


async def test_commit_metrics_move_with_commits(local_network: LocalNetwork) -> None:
    async with NetProbe(local_network) as probe:
        before = time.monotonic()
        first = await scrape(probe, 0)
        blocks = value(first, "depositnet_committed_blocks_total")
        after = await wait_metric(
            probe,
            0,
            "two more commits on node 0",
            lambda s: value(s, "depositnet_committed_blocks_total") >= blocks + 2,
        )
        # The last commit counted happened after `before`, so the gauge cannot exceed this:
        since = value(after, "depositnet_seconds_since_last_commit")
        assert 0.0 <= since <= time.monotonic() - before
        assert value(after, "depositnet_block_interval_seconds_count") >= 1.0
        assert value(after, "depositnet_block_interval_seconds_sum") > 0.0
        for step in ("propose", "prevote", "precommit", "commit"):
            count = value(after, "depositnet_step_duration_seconds_count", step=step)
            assert count > value(first, "depositnet_step_duration_seconds_count", step=step), step
        sigs = "depositnet_signature_verifications_total"
        assert value(after, sigs, kind="consensus") > value(first, sigs, kind="consensus")
        used = value(after, "depositnet_store_used_bytes")
        assert 0.0 < used < value(after, "depositnet_store_map_size_bytes") == float(1 << 30)
        assert value(after, "depositnet_data_dir_free_bytes") > 0.0


async def test_tx_latency_is_observed_where_the_tx_was_admitted(
    local_network: LocalNetwork,
) -> None:
    net = local_network
    rng = random.Random(14_001)
    compliance = net.layout.roles["compliance"]
    clients = [DepositClient([url], net.genesis) for url in net.api_urls]
    try:
        async with NetProbe(net) as probe:
            first = [await scrape(probe, i) for i in range(net.size)]

            def latency(samples: Samples, source: str) -> float:
                return value(samples, "depositnet_tx_commit_latency_seconds_count", source=source)

            def peer_admitted(now: list[Samples]) -> bool:
                return any(
                    latency(now[i], "peer") > latency(first[i], "peer") for i in range(1, net.size)
                )

            now = first
            # Each tx goes to node 0's API; another validator that proposes one must have
            # admitted it from gossip first. Proposers rotate, so a few txs suffice.
            for n in range(1, 21):
                key = rng.randbytes(32)
                body = RegisterParticipant(key, f"metrics-{n}", 10**9)
                _, wire = await clients[0].prepare(compliance, body, nonce=rng.randbytes(16))
                receipt = await clients[0].submit_and_wait(wire, timeout_s=FINAL_TIMEOUT_S)
                assert receipt.code == "OK"
                # The receipt can be served a moment before the node's commit callback ran.
                expected = latency(first[0], "api") + n
                node0 = await wait_metric(
                    probe, 0, f"{n} api latencies", lambda s, e=expected: latency(s, "api") >= e
                )
                assert latency(node0, "api") == expected
                now = [node0, *[await scrape(probe, i) for i in range(1, net.size)]]
                if n >= 2 and peer_admitted(now):
                    break
            assert peer_admitted(now), "no validator admitted a gossiped tx in 20 blocks"
            assert value(now[0], "depositnet_tx_commit_latency_seconds_sum", source="api") > 0
            sigs = "depositnet_signature_verifications_total"
            await wait_metric(
                probe,
                1,
                "node 1 to verify a gossiped tx's signature",
                lambda s: value(s, sigs, kind="tx") > value(first[1], sigs, kind="tx"),
            )
    finally:
        for client in clients:
            await client.aclose()


def _peers(samples: Samples, state: str) -> float:
    return value(samples, "depositnet_peers", state=state)


async def test_peer_states_follow_a_validator_going_and_coming_back(
    local_network: LocalNetwork,
) -> None:
    net = local_network
    async with NetProbe(net) as probe:
        await wait_metric(probe, 0, "3 peers connected", lambda s: _peers(s, "connected") == 3)
        await trio.to_thread.run_sync(net.stop, 3)
        try:
            lost = await wait_metric(
                probe,
                0,
                "node 0 to see node 3 gone",
                lambda s: (
                    _peers(s, "connected") == 2
                    and _peers(s, "connecting") + _peers(s, "backoff") == 1
                ),
            )
            assert value(lost, "depositnet_peers_connected") == 2.0
        finally:
            await trio.to_thread.run_sync(net.start, 3)
        back = await wait_metric(
            probe,
            0,
            "node 3 back",
            lambda s: (
                _peers(s, "connected") == 3 and _peers(s, "connecting") + _peers(s, "backoff") == 0
            ),
        )
        assert value(back, "depositnet_peers_connected") == 3.0


# ------------------------------------------------------------------ the shipped ops files


async def _exported_names(net: LocalNetwork) -> set[str]:
    async with NetProbe(net) as probe:
        return {name for name, _ in await scrape(probe, 0)}


def _dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["panels"], "the dashboard has no panels"
    queries = []
    for panel in dashboard["panels"]:
        exprs = [t["expr"] for t in panel.get("targets", [])]
        assert exprs, f"panel {panel['title']!r} has no query"
        queries += [(panel["title"], e) for e in exprs]
    return queries


def _alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    for rule in rules:
        assert {"alert", "expr", "labels", "annotations"} <= rule.keys(), rule
    return rules


async def test_dashboard_queries_name_only_exported_metrics(local_network: LocalNetwork) -> None:
    exported = await _exported_names(local_network)
    named: set[str] = set()
    for title, expr in _dashboard_queries():
        names = set(METRIC_NAME.findall(expr))
        assert names, f"panel {title!r}: {expr!r} names no depositnet metric"
        assert names <= exported, f"panel {title!r} names unexported {names - exported}"
        named |= names
    # And every family the node exports is on the dashboard somewhere.
    families = {re.sub(r"_(bucket|sum|count|total|created)$", "", n) for n in exported}
    shown = {re.sub(r"_(bucket|sum|count|total)$", "", n) for n in named}
    assert families - shown == set(), f"exported but on no panel: {families - shown}"


async def test_alert_rules_parse_and_name_only_exported_metrics(
    local_network: LocalNetwork,
) -> None:
    exported = await _exported_names(local_network)
    rules = _alert_rules()
    alerts = {rule["alert"] for rule in rules}
    assert {"DepositnetChainStalled", "DepositnetPeerLoss", "DepositnetStoreNearFull"} <= alerts
    for rule in rules:
        names = set(METRIC_NAME.findall(rule["expr"]))
        assert names, f"{rule['alert']}: names no depositnet metric"
        assert names <= exported, f"{rule['alert']} names unexported {names - exported}"


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed on this machine")
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
