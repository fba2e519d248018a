"""The deposit token: transactions, roles, state transition, mempool rules and the LMDB store."""
