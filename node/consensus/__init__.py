"""QBFT consensus for a node: the pure state machine of ``chain.qbft``, run.

- ``block_interface``: how consensus reads and re-rounds real consortium blocks;
- ``driver``: ``QbftDriver``, which feeds one validator's state machine and
  carries out its effects on the ledger (build, execute, commit, broadcast);
- ``timers``: the block and round timers the host advances;
- ``local_network``: several validators in one process with an in-memory bus
  and fake time, for tests;
- ``host``: ``ChainThread``, the node's one ledger-writing thread, which runs
  the driver on the wall clock and imports blocks from peers.

Nothing here opens a socket; ``node.gossip`` and ``node.sync`` carry messages
and blocks between this package and the peer transport.
"""
