"""A node's peer table: the genesis members' pins plus a permissions file.

The genesis ``gongfen.members[]`` entries may carry each member's transport
``fingerprint`` and ``certificate`` (PEM); every member of the consortium
shares them. Where each member's node listens is local knowledge, so it comes
from the node's permissions file (format in ``node.transport.peers``), whose
entries are merged into the genesis ones by member id::

    {"members": [{"id": "bank", "host": "10.0.0.3", "port": 30303}, ...]}

A file entry may also pin a member the genesis does not (``fingerprint`` and
``certificate`` or ``certificateFile``), but it may not pin a different
certificate for a member the genesis pins: the genesis wins, and the
disagreement is an error rather than a silent choice.

A running node rereads its file when it changes (``watch_permissions_file``),
so a member added to it is dialled without a restart; a file that fails to
load is reported and the table in use is kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chain.genesis import Genesis
from node.transport.errors import PeerTableError, TransportError
from node.transport.identity import normalize_fingerprint
from node.transport.peers import (
    PeerTable,
    build_peer_table,
    read_permission_entries,
)

logger = logging.getLogger(__name__)

PERMISSIONS_POLL_SECONDS = 2.0


def load_member_peers(genesis: Genesis, permissions_file: Path) -> PeerTable:
    """Return the peer table of the genesis pins merged with ``permissions_file``.

    Rejects with ``PeerTableError`` an unreadable or malformed file, a file
    entry that pins another certificate than the genesis, and any entry that
    ``build_peer_table`` rejects (a member with no pin anywhere among them).
    """
    entries: dict[str, dict[str, Any]] = {
        member.id: {
            "id": member.id,
            "fingerprint": member.fingerprint,
            "certificate": member.certificate,
        }
        for member in genesis.members
        if member.fingerprint is not None and member.certificate is not None
    }
    for index, entry in enumerate(read_permission_entries(permissions_file)):
        if not isinstance(entry, dict):
            raise PeerTableError("expected an object", f"members[{index}]")
        member_id = entry.get("id")
        if not isinstance(member_id, str):
            raise PeerTableError("expected a member id", f"members[{index}].id")
        _merge(entries.setdefault(member_id, {}), entry, f"members[{index}]")
    return build_peer_table(entries.values(), base_directory=permissions_file.parent)


async def watch_permissions_file(
    genesis: Genesis,
    permissions_file: Path,
    apply: Callable[[PeerTable], None],
    *,
    poll_seconds: float = PERMISSIONS_POLL_SECONDS,
) -> None:
    """Call ``apply`` with the new peer table whenever ``permissions_file`` changes.

    Runs until cancelled. A change is noticed by the file's modification time
    and size; a file that does not load, or a table ``apply`` refuses, is
    logged once per change and leaves the table in use as it is.
    """
    seen = _file_version(permissions_file)
    while True:
        await asyncio.sleep(poll_seconds)
        version = _file_version(permissions_file)
        if version == seen:
            continue
        seen = version
        try:
            table = load_member_peers(genesis, permissions_file)
            apply(table)
        except TransportError as error:
            logger.warning(
                "permissions file %s changed but was not applied: %s; "
                "keeping the peers in use",
                permissions_file,
                error,
            )
            continue
        logger.info(
            "permissions file %s reloaded: %d members", permissions_file, len(table)
        )


def _file_version(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def _merge(target: dict[str, Any], entry: dict[str, Any], where: str) -> None:
    pinned = target.get("fingerprint")
    given = entry.get("fingerprint")
    if pinned is not None and given is not None:
        try:
            differs = normalize_fingerprint(str(given)) != normalize_fingerprint(pinned)
        except ValueError as error:
            raise PeerTableError(str(error), f"{where}.fingerprint") from None
        if differs:
            raise PeerTableError(
                "pins another certificate than the genesis does for this member",
                f"{where}.fingerprint",
            )
    if "certificate" in entry or "certificateFile" in entry:
        target.pop("certificate", None)
    target.update({key: value for key, value in entry.items() if value is not None})
