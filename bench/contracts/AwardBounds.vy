# pragma version ~=0.4.3
"""Upper bounds of a batch point award, for the contracts benchmark.

Not a consortium contract. Each function takes a batch of villagers and
emits one ERC-20 ``Transfer`` per villager, as any award keeping per-villager
events must:

- ``announce`` does nothing else: the ceiling of any such batch;
- ``credit`` also adds to each villager's balance: the least a batch award
  keeping per-villager balances and events can do (a token's total supply
  is one more write a batch, not a villager, so it is left out).

``bench/contracts_throughput.py`` measures both against ERC-20 transfers.
"""

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    amount: uint256

minter: public(address)
balanceOf: public(HashMap[address, uint256])


@deploy
def __init__():
    self.minter = msg.sender


@external
def announce(villagers: DynArray[address, 256], amount: uint256):
    """Emit a mint ``Transfer`` of ``amount`` to each villager; store nothing.

    Rejects a caller other than the minter.
    """
    assert msg.sender == self.minter, "bounds: caller is not the minter"
    for villager: address in villagers:
        log Transfer(sender=empty(address), receiver=villager, amount=amount)


@external
def credit(villagers: DynArray[address, 256], amount: uint256):
    """Add ``amount`` to each villager's balance and emit its mint ``Transfer``.

    Rejects a caller other than the minter.
    """
    assert msg.sender == self.minter, "bounds: caller is not the minter"
    for villager: address in villagers:
        self.balanceOf[villager] += amount
        log Transfer(sender=empty(address), receiver=villager, amount=amount)
