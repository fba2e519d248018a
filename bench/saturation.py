"""The saturation search of `depositnet bench`, as CometBFT's QA runs it.

Offered load rises in steps; the search stops at the first step where the network no longer
keeps up: committed transfers/s fall below `KEEP_UP` of the offered rate, or the validators stop
taking transfers as fast as they are offered (the load generator's window of concurrent requests
stays full), or more than `MAX_LOSS` of the transfers are refused or never seen committed. The
sustained throughput is the best committed rate of any step. Pure logic: the step runner is
passed in, so the tests drive it with made-up results.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

KEEP_UP = 0.9
MAX_STEPS = 100
MAX_LOSS = 0.01

Step = dict[str, Any]


def geometric_rates(start: float, factor: float, count: int) -> list[float]:
    """`count` offered rates from `start`, each `factor` times the previous (rounded)."""
    if not (0 < start < math.inf and 1 < factor < math.inf and 1 <= count <= MAX_STEPS):
        raise ValueError(
            f"--start-rate must be > 0 and --factor > 1 (both finite), --max-steps 1..{MAX_STEPS}"
        )
    try:
        rates = [round(start * factor**i, 1) for i in range(count)]
    except OverflowError:
        rates = [math.inf]
    if not math.isfinite(rates[-1]):
        raise ValueError("the last step's rate is not finite: lower --max-steps or --factor")
    return rates


def parse_rates(text: str) -> list[float]:
    """`100,200,400` -> [100.0, 200.0, 400.0]; ValueError unless positive and increasing."""
    try:
        rates = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--steps: expected numbers separated by commas, got {text!r}") from None
    if not rates or any(not 0 < r < math.inf for r in rates):
        raise ValueError("--steps: rates must be positive and finite")
    if any(b <= a for a, b in itertools.pairwise(rates)):
        raise ValueError("--steps: rates must increase")
    return rates


def saturation_reasons(step: Step) -> list[str]:
    """Why this step shows saturation (empty if the network kept up)."""
    offered = float(step["offered_tps"])
    reasons = []
    if step["committed_tps"] < KEEP_UP * offered:
        reasons.append(f"committed {step['committed_tps']:.0f}/s < {KEEP_UP:.0%} of offered")
    if step["achieved_offered_tps"] < KEEP_UP * offered:
        why = "validators slow to answer" if step.get("window_full") else "load generator starved"
        reasons.append(f"could only send {step['achieved_offered_tps']:.0f}/s ({why})")
    refused = sum(step["rejected"].values())
    if step["submitted"] and refused > MAX_LOSS * step["submitted"]:
        reasons.append(f"{refused} refused at submit")
    if step["submitted"] and step["uncommitted"] > MAX_LOSS * step["submitted"]:
        reasons.append(f"{step['uncommitted']} never seen committed")
    return reasons


def search(rates: Sequence[float], run_step: Callable[[float], Step]) -> list[Step]:
    """Run steps at `rates` in order until one saturates; every step gains `saturated`."""
    steps = []
    for rate in rates:
        step = dict(run_step(rate))
        reasons = saturation_reasons(step)
        step["saturated"] = bool(reasons)
        step["saturation_reasons"] = reasons
        steps.append(step)
        if reasons:
            break
    return steps


def sustained_tps(steps: Sequence[Step]) -> float:
    """The best committed transfers/s of any step (0 if none committed)."""
    return max((float(s["committed_tps"]) for s in steps), default=0.0)


def found_saturation(steps: Sequence[Step]) -> bool:
    return any(s.get("saturated") for s in steps)


def half_load(steps: Sequence[Step]) -> float:
    """Half of the saturation load: the rate at which the latency target is checked."""
    return round(sustained_tps(steps) / 2, 1)


def per_transfer_cpu(step: Step) -> float | None:
    """Mean CPU seconds one validator spent per committed transfer during the step."""
    validators = step.get("validators") or []
    if not validators or not step["committed"]:
        return None
    mean_cpu = sum(v["cpu_s"] for v in validators) / len(validators)
    return float(mean_cpu / step["committed"])


def cpu_bound_tps(step: Step, cores: int) -> float | None:
    """Transfers/s the validators could commit if they had the machine's cores to themselves,
    at this step's CPU cost per transfer: cores / (validators x CPU s per transfer). A
    projection from CPU seconds, which a shared machine inflates far less than wall time."""
    per = per_transfer_cpu(step)
    validators = len(step.get("validators") or [])
    if per is None or per <= 0 or not validators:
        return None
    return cores / (validators * per)
