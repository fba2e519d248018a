"""depositnet: a BFT network for a bank-issued deposit token."""

__version__ = "0.1.0"
