"""Compile test contracts from their Vyper source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vyper.compiler import compile_code


def compile_vyper(path: Path) -> dict[str, Any]:
    """Return ``{"abi", "bytecode"}`` for the Vyper source at ``path``."""
    output = compile_code(path.read_text(), output_formats=["abi", "bytecode"])
    return {"abi": output["abi"], "bytecode": output["bytecode"]}
