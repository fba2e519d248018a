"""The sans-IO validator replica: consensus core + application + mempool + gossip + catch-up.

Both drivers (`network/` over trio and TCP, `sim/` over a virtual clock) feed it the events of
`consensus.replica.events` and execute the effects it returns, strictly in order.
"""
