# pragma version ~=0.4.3
"""A small contract for driving the node through web3.py: state, events, reverts."""

event Stored:
    author: indexed(address)
    slot: indexed(uint256)
    amount: uint256

values: public(HashMap[uint256, uint256])
writes: public(uint256)


@external
def store(slot: uint256, amount: uint256):
    assert amount != 0, "amount must not be zero"
    self.values[slot] = amount
    self.writes += 1
    log Stored(author=msg.sender, slot=slot, amount=amount)


@external
@view
def must_be_positive(number: uint256) -> uint256:
    assert number > 0, "not positive"
    return number * 2


@external
@view
def chain_id() -> uint256:
    return chain.id
