"""The governance bundle: the files that decide who may approve, what a standard change may do and when
a window is open, and the digest a governance maintainer signs. Pure: the caller reads the files.

The digest covers each known file's name and bytes, and says which are absent, so adding, removing or
editing any of them (a new approver's key, a widened catalog bound) is another bundle. The record names
the digest at assessment and the approvers sign it with the plan; an executor re-reads the bundle before
executing and refuses when it is not the one the change was approved under.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from pydantic import BaseModel, Field

GOVERNANCE_FILES = (
    "approvers.yaml",
    "calendar.yaml",
    "catalog.yaml",
    "drift.yaml",
    "governance.yaml",
    "keys.yaml",
    "verification.yaml",
)
SEAL_FILE = "governance.sig"
UNBUNDLED = "unbundled"  # governance built in memory (unit tests), not read from a bundle


def bundle_digest(files: Mapping[str, bytes | None]) -> str:
    """SHA-256 over every governance file name, whether it is present, and its bytes (length-prefixed)."""
    digest = hashlib.sha256(b"changeflow-governance-bundle-v1")
    for name in GOVERNANCE_FILES:
        content = files.get(name)
        for part in (name.encode(), b"present" if content is not None else b"absent", content or b""):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


def seal_message(digest: str) -> bytes:
    """The bytes a governance maintainer's key signs."""
    return f"changeflow-governance-seal-v1\n{digest}".encode()


class BundleSeal(BaseModel, frozen=True):
    """Which bundle judged a change, and who vouched for it."""

    digest: str
    folder: str = ""
    signer: str | None = Field(None, description="key ID of the maintainer key that signed it; None: unsigned")
    pinned: bool = Field(
        False, description="the executor pins governance keys: an unsigned bundle would have been refused"
    )

    def describe(self) -> str:
        if self.signer:
            return f"governance bundle {self.digest[:16]}… signed by maintainer key {self.signer}"
        return f"governance bundle {self.digest[:16]}… UNSIGNED (this executor pins no governance key)"


def bundle_of(seal: BundleSeal | None) -> str:
    """The digest a record and a plan digest name: the bundle's, or ``unbundled``."""
    return seal.digest if seal is not None else UNBUNDLED
