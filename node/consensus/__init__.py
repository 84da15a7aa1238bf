"""QBFT consensus for a node: the pure state machine of ``chain.qbft``, run.

- ``block_interface``: how consensus reads and re-rounds real consortium blocks;
- ``driver``: ``QbftDriver``, which feeds one validator's state machine and
  carries out its effects on the ledger (build, execute, commit, broadcast);
- ``timers``: the block and round timers the host advances;
- ``local_network``: several validators in one process with an in-memory bus
  and fake time, for tests.

Nothing here opens a socket or reads the wall clock; the node's transport and
event loop supply messages and time.

TODO(#4): wiring to the peer transport, transaction gossip, block sync and the
multi-process devnet are still to come.
"""
