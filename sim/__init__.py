"""The deterministic simulator: the real replica on a virtual clock under seeded faults."""
