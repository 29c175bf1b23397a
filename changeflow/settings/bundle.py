"""Reading, sealing and checking a governance bundle on disk (``changeflow governance sign | verify``,
and every executor when it loads governance).

An executor configured with governance keys (``CHANGEFLOW_GOVERNANCE_KEYS``: the maintainers' public
keys) accepts a bundle only when ``governance.sig`` in its folder is a valid signature by one of them over
the bundle's current digest; anything else is refused in one line naming the fix.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from changeflow.domain.bundle import GOVERNANCE_FILES, SEAL_FILE, BundleSeal, bundle_digest, seal_message
from changeflow.domain.names import person
from changeflow.exceptions import InvalidSettings
from changeflow.settings.governance import GovernanceSettings, KeyRing
from changeflow.settings.strict_yaml import load_settings_file
from changeflow.settings.variables import governance_pins
from changeflow.signing import PrivateKey, key_id, verify

SIGN_FIX = "a governance maintainer reviews the change and runs `changeflow governance sign DIR --key MAINTAINER.pem`"


def read_bundle(folder: Path) -> dict[str, bytes | None]:
    files: dict[str, bytes | None] = {}
    for name in GOVERNANCE_FILES:
        path = folder / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise InvalidSettings(
                str(path),
                "(file)",
                "is not a regular file",
                "keep governance files as plain files in the bundle's folder",
            )
        files[name] = path.read_bytes() if path.is_file() else None
    return files


def current_digest(folder: Path) -> str:
    return bundle_digest(read_bundle(folder))


def seal(folder: Path, key: PrivateKey) -> tuple[str, Path]:
    """Sign the bundle as it is now; returns (digest, the seal file written)."""
    if not (folder / "approvers.yaml").is_file():
        raise InvalidSettings(
            str(folder),
            "approvers.yaml",
            "is missing: this is not a governance folder",
            "name the folder holding approvers.yaml, catalog.yaml, calendar.yaml",
        )
    digest = current_digest(folder)
    seal_file = folder / SEAL_FILE
    seal_file.write_text(
        yaml.safe_dump(
            {"digest": digest, "key": key.public, "signature": key.sign(seal_message(digest))}, sort_keys=True
        ),
        encoding="utf-8",
    )
    return digest, seal_file


def _seal_entry(folder: Path) -> dict | None:
    path = folder / SEAL_FILE
    if not path.is_file():
        return None
    try:
        entry = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        entry = None
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("digest", "key", "signature")):
        raise InvalidSettings(str(path), "(file)", "is not a governance seal (digest, key, signature)", SIGN_FIX)
    return entry


def check(folder: Path, pinned: list[str]) -> BundleSeal:
    """The bundle's seal. With ``pinned`` keys: valid only when signed by one of them over the current
    digest, else ``InvalidSettings``. Without: the digest alone, unsigned (a signature by a key nobody
    pinned proves nothing, so none is claimed)."""
    folder = Path(folder).resolve()
    digest = current_digest(folder)
    if not pinned:
        return BundleSeal(digest=digest, folder=str(folder))
    where = str(folder / SEAL_FILE)
    entry = _seal_entry(folder)
    if entry is None:
        raise InvalidSettings(where, "(file)", "is missing: this executor accepts only signed governance", SIGN_FIX)
    if entry["key"].strip() not in {k.strip() for k in pinned}:
        raise InvalidSettings(
            where, "key", f"key {key_id(entry['key'])} is not a governance key this executor trusts", SIGN_FIX
        )
    if not verify(entry["key"], seal_message(digest), entry["signature"]):
        why = "the bundle changed since it was signed" if entry["digest"] != digest else "the signature does not verify"
        raise InvalidSettings(where, "signature", f"{why} (bundle now {digest[:16]}…)", SIGN_FIX)
    return BundleSeal(digest=digest, folder=str(folder), signer=key_id(entry["key"]), pinned=True)


def bundle_settings(folder: Path, pinned: list[str]) -> dict:
    """What the bundle in ``folder`` contributes beyond the rule files: its seal (checked against the
    ``pinned`` maintainer keys) and the approvers' and executors' public keys from ``keys.yaml``."""
    seal = check(folder, pinned)
    ring = load_settings_file(folder / "keys.yaml", KeyRing) if (folder / "keys.yaml").is_file() else KeyRing()
    return {
        "bundle": seal,
        "approver_keys": {person(name): key.ed25519 for name, key in ring.approvers.items()},
        "executor_keys": {name: key.ed25519 for name, key in ring.executors.items()},
        "authenticators": {person(name): key.totp_sha256 for name, key in ring.approvers.items() if key.totp_sha256},
    }


def reread(seal: BundleSeal | None) -> BundleSeal | None:
    """The bundle a seal came from, read and checked again now (with this process's pinned keys)."""
    if seal is None:
        return None
    return check(Path(seal.folder), governance_pins())


def write_bundle(governance, folder: Path) -> Path:
    """Write ``governance`` out as a bundle folder (every rule file, ``governance.yaml`` for the settings,
    ``keys.yaml`` for the keys), ready to be sealed: how a demo, a drill or a test gives a worker the
    rules it built in code, through the same path a team's reviewed bundle takes."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = governance.model_dump(mode="json", include=set(GovernanceSettings.model_fields))
    files = {
        "approvers.yaml": governance.approvers.model_dump(mode="json"),
        "catalog.yaml": governance.catalog.model_dump(mode="json"),
        "calendar.yaml": governance.calendar.model_dump(mode="json"),
        "verification.yaml": governance.verification.model_dump(mode="json"),
        "drift.yaml": governance.drift.model_dump(mode="json"),
        "governance.yaml": settings,
        "keys.yaml": {
            "approvers": {
                n: {
                    "ed25519": k,
                    **({"totp_sha256": governance.authenticators[n]} if n in governance.authenticators else {}),
                }
                for n, k in governance.approver_keys.items()
            },
            "executors": {n: {"ed25519": k} for n, k in governance.executor_keys.items()},
        },
    }
    for name, content in files.items():
        (folder / name).write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return folder
