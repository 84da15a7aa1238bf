# pragma version ~=0.4.3
"""A stand-in permission contract: admits the accounts its owner lets in."""

owner: public(address)
admitted: public(HashMap[address, bool])


@deploy
def __init__():
    self.owner = msg.sender


@external
def admit(account: address, allowed: bool):
    assert msg.sender == self.owner, "only the owner admits"
    self.admitted[account] = allowed


@external
@view
def canTransact(account: address) -> bool:
    return self.admitted[account]
