"""The consortium's ledger: VM rules, storage, pool, blocks and receipts."""

from chain.hashing import select_fast_keccak

# Before any module of ours, or of py-evm, computes its first hash.
select_fast_keccak()
