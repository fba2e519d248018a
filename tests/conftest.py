"""Suite-wide test settings.

Hypothesis runs derandomized in CI (HYPOTHESIS_PROFILE=ci) so a red build is reproducible from
the log; locally it explores new examples each run. Deadlines are off: the machines are shared
and noisy, and speed belongs in benchmarks, not in unit tests.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
