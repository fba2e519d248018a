"""The trio driver: TCP transport, peers, the validator node and its client API."""
