"""The last registry a proxy loaded from its central store, kept on local disk.

An edge proxy started while its link to the centre is down serves from this file. It holds
credentials, so it is written owner-only, and atomically: a crash mid-write leaves the
previous snapshot, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from openstackoid.registry.errors import RegistryError
from openstackoid.registry.model import Cloud

FORMAT = 1
SNAPSHOT_NAME = "registry-snapshot.json"
"""The snapshot's file name beside a proxy configuration file."""


@dataclass(frozen=True)
class Snapshot:
    clouds: tuple[Cloud, ...]
    written_at: float
    """Wall-clock time (epoch seconds) the snapshot was taken."""
    source: str


def default_snapshot_path(source: str) -> Path:
    """Where a proxy without a configured path keeps the snapshot of `source` (a store
    described without secrets): one file per store under the user's state directory."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    return Path(state) / "openstackoid" / f"registry-snapshot-{digest}.json"


class SnapshotFile:
    """One store's snapshot at `path`. A snapshot of another store is never served."""

    def __init__(self, path: str | Path, source: str) -> None:
        self.path = Path(path)
        self.source = source

    def write(self, clouds: Iterable[Cloud]) -> None:
        """Replace the snapshot atomically (blocking: call it in a thread)."""
        document = {
            "format": FORMAT,
            "source": self.source,
            "written_at": time.time(),
            "clouds": [cloud.to_dict(with_secrets=True) for cloud in clouds],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as out:  # mkstemp creates the file 0600
                json.dump(document, out, separators=(",", ":"))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def read(self) -> Snapshot | None:
        """The snapshot, or None if there is none; RegistryError if it cannot be served."""
        try:
            document = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RegistryError(f"snapshot {self.path} is unreadable: {exc}") from exc
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise RegistryError(f"snapshot {self.path} is not a registry snapshot")
        if document.get("source") != self.source:
            raise RegistryError(
                f"snapshot {self.path} is of {document.get('source')!r}, not of {self.source!r}"
            )
        try:
            clouds = tuple(Cloud.from_dict(item) for item in document["clouds"])
            return Snapshot(clouds, float(document["written_at"]), self.source)
        except (KeyError, TypeError, ValueError) as exc:
            raise RegistryError(f"snapshot {self.path} is damaged: {exc!r}") from exc
