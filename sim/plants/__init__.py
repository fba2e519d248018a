"""Patches that plant bugs in production code for one simulated run (see `sim.planted`)."""
