import chain  # noqa: F401  (selects the Keccak backend before the first hash)
