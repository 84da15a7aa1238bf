"""Compile the consortium's Vyper contracts into committed artifacts.

Every ``contracts/*.vy`` file is compiled with the installed Vyper (imports
resolve against this folder and the installed snekmate package) into
``contracts/artifacts/<Name>.json`` with the keys

- ``contractName``: the file stem, e.g. ``Points``;
- ``abi``: the contract ABI;
- ``bytecode``: the init code, ``0x`` hex (constructor arguments are appended
  to it when deploying);
- ``deployedBytecode``: the runtime code, ``0x`` hex;
- ``sourceHash``: the hash of every source that went into the build (see
  ``hash_sources``);
- ``sources``: each such source's path and SHA-256, for auditors;
- ``compilerVersion`` and ``evmVersion``.

An artifact is stale when its source hash, compiler version or EVM version
no longer match what a build would produce now; ``stale_artifacts`` names
them and the test suite fails on any. ``python -m contracts.build`` rewrites
all artifacts.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import vyper
from vyper.compiler import outputs_from_compiler_data
from vyper.compiler.input_bundle import FilesystemInputBundle
from vyper.compiler.phases import CompilerData
from vyper.compiler.settings import OptimizationLevel, Settings
from vyper.exceptions import VyperException

from contracts.errors import ArtifactError, BuildError

CONTRACTS_DIR = Path(__file__).resolve().parent
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"
# The chain runs py-evm's Prague rules and Vyper 0.4.3 targets Prague.
EVM_VERSION = "prague"
COMPILER_VERSION: str = vyper.__version__


def source_paths() -> list[Path]:
    """Return the contract sources, ``contracts/*.vy``, sorted by name."""
    return sorted(CONTRACTS_DIR.glob("*.vy"))


def compile_contract(source_path: Path) -> dict[str, Any]:
    """Compile one Vyper source into an artifact dictionary.

    Takes the path of a ``.vy`` file; returns the artifact (see the module
    docstring for its keys). Raises ``BuildError`` when Vyper rejects the
    source.
    """
    data = _compiler_data(source_path)
    try:
        outputs = outputs_from_compiler_data(
            data, output_formats=["abi", "bytecode", "bytecode_runtime"]
        )
    except VyperException as error:
        raise BuildError(source_path.name, str(error)) from error

    sources = _sources_of(data)
    return {
        "contractName": source_path.stem,
        "abi": outputs["abi"],
        "bytecode": outputs["bytecode"],
        "deployedBytecode": outputs["bytecode_runtime"],
        "sourceHash": hash_sources(sources),
        "sources": {name: _sha256_hex(text) for name, text in sorted(sources.items())},
        "compilerVersion": COMPILER_VERSION,
        "evmVersion": EVM_VERSION,
    }


def build_all(write: bool = True) -> dict[str, dict[str, Any]]:
    """Compile every contract; with ``write``, save the artifacts.

    Returns the artifacts by contract name. Raises ``BuildError`` on the
    first source that does not compile (nothing is written then).
    """
    artifacts = {path.stem: compile_contract(path) for path in source_paths()}
    if write:
        ARTIFACTS_DIR.mkdir(exist_ok=True)
        for name, artifact in artifacts.items():
            text = json.dumps(artifact, indent=2, ensure_ascii=False) + "\n"
            (ARTIFACTS_DIR / f"{name}.json").write_text(text, encoding="utf-8")
    return artifacts


def load_artifact(name: str) -> dict[str, Any]:
    """Read the committed artifact of contract ``name`` (e.g. ``"Points"``).

    Raises ``ArtifactError`` when the file is missing or not valid JSON.
    """
    path = ARTIFACTS_DIR / f"{name}.json"
    try:
        artifact: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ArtifactError(name, f"no file {path}") from error
    except json.JSONDecodeError as error:
        raise ArtifactError(name, f"invalid JSON ({error})") from error
    return artifact


def stale_artifacts() -> list[str]:
    """Name the contracts whose committed artifact no longer matches.

    An artifact is stale when it is missing, or when its ``sourceHash``,
    ``compilerVersion`` or ``evmVersion`` differ from a build now; an
    artifact left over from a deleted source is stale too. Only imports are
    resolved, so this is much faster than a build.
    """
    stale: list[str] = []
    names = set()
    for path in source_paths():
        names.add(path.stem)
        try:
            artifact = load_artifact(path.stem)
        except ArtifactError:
            stale.append(path.stem)
            continue
        expected = hash_sources(_sources_of(_compiler_data(path)))
        if (
            artifact.get("sourceHash") != expected
            or artifact.get("compilerVersion") != COMPILER_VERSION
            or artifact.get("evmVersion") != EVM_VERSION
        ):
            stale.append(path.stem)
    leftovers = [p.stem for p in ARTIFACTS_DIR.glob("*.json") if p.stem not in names]
    return sorted(stale + leftovers)


def hash_sources(sources: dict[str, bytes]) -> str:
    """Hash a build's sources into its ``sourceHash`` (``0x`` hex SHA-256).

    Takes the sources keyed by their path relative to the search path they
    were found in (``Points.vy``, ``snekmate/auth/access_control.vy``).
    The hash is SHA-256 over the lines ``<path> NUL <sha256 hex of the
    bytes> LF``, one per source in path order, so that renaming an import
    counts as a change as well as editing it. Vyper's built-in interfaces
    (``ethereum.ercs``) are covered by ``compilerVersion`` instead.
    """
    lines = b"".join(
        name.encode() + b"\x00" + _sha256_hex(text).encode() + b"\n"
        for name, text in sorted(sources.items())
    )
    return "0x" + hashlib.sha256(lines).hexdigest()


def _search_paths() -> list[Path]:
    # snekmate installs as a namespace package of .vy files; its parent
    # folder is the search path that makes `from snekmate.auth import ...`
    # resolve.
    spec = importlib.util.find_spec("snekmate")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("snekmate", "the snekmate package is not installed")
    snekmate_dir = Path(next(iter(spec.submodule_search_locations)))
    return [CONTRACTS_DIR, snekmate_dir.parent]


def _compiler_data(source_path: Path) -> Any:
    input_bundle = FilesystemInputBundle(_search_paths())
    settings = Settings(evm_version=EVM_VERSION, optimize=OptimizationLevel.GAS)
    try:
        file_input = input_bundle.load_file(source_path.resolve())
        return CompilerData(file_input, input_bundle, settings=settings)
    except (OSError, VyperException) as error:
        raise BuildError(source_path.name, str(error)) from error


def _sources_of(data: Any) -> dict[str, bytes]:
    try:
        inputs = [*data.resolved_imports.compiler_inputs, data.file_input]
    except VyperException as error:
        raise BuildError(Path(data.file_input.path).name, str(error)) from error

    roots = _search_paths()
    sources: dict[str, bytes] = {}
    for compiler_input in inputs:
        if compiler_input.from_builtin:
            continue
        path = Path(compiler_input.resolved_path).resolve()
        sources[_relative_name(path, roots)] = compiler_input.contents.encode()
    return sources


def _relative_name(path: Path, roots: list[Path]) -> str:
    for root in roots:
        if path.is_relative_to(root.resolve()):
            return path.relative_to(root.resolve()).as_posix()
    return path.name


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> int:
    """Build every artifact and print one line per contract."""
    try:
        artifacts = build_all(write=True)
    except BuildError as error:
        print(error, file=sys.stderr)
        return 1
    for name, artifact in artifacts.items():
        size = (len(artifact["deployedBytecode"]) - 2) // 2
        print(f"{name}: {size} bytes runtime, source {artifact['sourceHash'][:18]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
