"""The pure Tendermint core and the sans-IO replica built on it.

Nothing under this package performs I/O, reads a clock or draws randomness: events and `now_ms`
come in, effects go out. `tests/consensus/test_purity.py` enforces it.
"""
