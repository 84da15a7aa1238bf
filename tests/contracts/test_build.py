"""The build: committed artifacts are fresh, complete and reproducible."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import vyper

from contracts import build
from contracts.errors import ArtifactError, BuildError

EXPECTED = {
    "Activities",
    "Consortium",
    "CreditRegistry",
    "FeedbackAnchors",
    "Points",
    "Settlement",
}


def test_committed_artifacts_are_not_stale() -> None:
    stale = build.stale_artifacts()

    assert stale == [], f"stale artifacts {stale}: run `python -m contracts.build`"


def test_every_contract_has_an_artifact() -> None:
    assert {path.stem for path in build.source_paths()} == EXPECTED
    for name in EXPECTED:
        artifact = build.load_artifact(name)
        assert artifact["contractName"] == name
        assert artifact["bytecode"].startswith("0x") and len(artifact["bytecode"]) > 2
        assert artifact["deployedBytecode"].startswith("0x")
        assert artifact["compilerVersion"] == vyper.__version__
        assert artifact["evmVersion"] == "prague"
        assert (
            artifact["sourceHash"].startswith("0x")
            and len(artifact["sourceHash"]) == 66
        )
        assert f"{name}.vy" in artifact["sources"]
        # EIP-170: the chain refuses runtime code above 24,576 bytes.
        assert len(artifact["deployedBytecode"]) // 2 - 1 <= 24_576


def test_source_hash_covers_imported_snekmate_modules() -> None:
    sources = build.load_artifact("Consortium")["sources"]

    assert "snekmate/auth/access_control.vy" in sources
    assert "Consortium.vy" in build.load_artifact("Points")["sources"]


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sources and artifacts that the build module points at."""
    for source in build.source_paths():
        shutil.copy(source, tmp_path / source.name)
    shutil.copytree(build.ARTIFACTS_DIR, tmp_path / "artifacts")
    monkeypatch.setattr(build, "CONTRACTS_DIR", tmp_path)
    monkeypatch.setattr(build, "ARTIFACTS_DIR", tmp_path / "artifacts")
    return tmp_path


def test_editing_a_source_makes_its_artifact_stale(sandbox: Path) -> None:
    assert build.stale_artifacts() == []
    source = sandbox / "FeedbackAnchors.vy"

    source.write_text(source.read_text() + "\n# an edit\n")

    assert build.stale_artifacts() == ["FeedbackAnchors"]


def test_editing_an_imported_contract_makes_its_importers_stale(sandbox: Path) -> None:
    source = sandbox / "Consortium.vy"

    source.write_text(source.read_text() + "\n# an edit\n")

    assert build.stale_artifacts() == [
        "Activities",
        "Consortium",
        "CreditRegistry",
        "FeedbackAnchors",
        "Points",
        "Settlement",
    ]


def test_missing_leftover_or_foreign_artifacts_are_stale(sandbox: Path) -> None:
    (sandbox / "artifacts" / "Points.json").unlink()
    shutil.copy(
        sandbox / "artifacts" / "Settlement.json", sandbox / "artifacts" / "Old.json"
    )
    path = sandbox / "artifacts" / "Activities.json"
    artifact = json.loads(path.read_text())
    artifact["compilerVersion"] = "0.4.0"
    path.write_text(json.dumps(artifact))

    assert build.stale_artifacts() == ["Activities", "Old", "Points"]


def test_rebuild_clears_staleness_and_reproduces_the_rest(sandbox: Path) -> None:
    committed = {name: build.load_artifact(name) for name in EXPECTED}
    source = sandbox / "FeedbackAnchors.vy"
    source.write_text(source.read_text() + "\n# an edit\n")

    build.build_all(write=True)

    assert build.stale_artifacts() == []
    for name in EXPECTED - {"FeedbackAnchors"}:
        assert build.load_artifact(name) == committed[name], name


def test_compile_error_names_the_source(tmp_path: Path) -> None:
    bad = tmp_path / "Broken.vy"
    bad.write_text(
        "# pragma version ~=0.4.3\n@external\ndef f() -> uint256:\n    return x\n"
    )

    with pytest.raises(BuildError, match="Broken.vy"):
        build.compile_contract(bad)


def test_missing_artifact_says_how_to_rebuild() -> None:
    with pytest.raises(ArtifactError, match="python -m contracts.build"):
        build.load_artifact("Nothing")
