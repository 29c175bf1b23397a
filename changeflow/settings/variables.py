"""What this process's ``CHANGEFLOW_*`` variables name, each read when asked: the environment file and the
governance folder a flow uses when none is given, where an approver's keys and secrets live, the
governance maintainers' keys this executor pins, its own record-signing key and checkpoint folder, and a
clock set for a demo. Nothing is loaded here (``defaults`` loads the files these name); the lowest room
of ``settings`` after ``paths``, so the loader and the bundle check read the pins without a cycle."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from changeflow.exceptions import InvalidSettings
from changeflow.settings import paths

ENVIRONMENT_FILE = Path(".changeflow") / "environment.yaml"


def environment_path() -> Path:
    """``CHANGEFLOW_ENVIRONMENT``, else ``.changeflow/environment.yaml`` in the working directory."""
    return Path(os.environ.get("CHANGEFLOW_ENVIRONMENT") or ENVIRONMENT_FILE).resolve()


def changeflow_home() -> Path:
    """``CHANGEFLOW_HOME``, else ``~/.changeflow``: where an approver's keys and secrets live by default."""
    return Path(os.environ.get("CHANGEFLOW_HOME") or Path.home() / ".changeflow")


def approver_keys_dir() -> Path:
    """Approvers' private keys (one ``NAME.pem`` each, mode 0600): ``CHANGEFLOW_KEYS``, else ``HOME/keys``."""
    return Path(os.environ.get("CHANGEFLOW_KEYS") or changeflow_home() / "keys")


def approver_secrets() -> Path:
    """The TOTP secrets the flows check codes against (mode 0600, never on a record): ``CHANGEFLOW_APPROVER_SECRETS``."""
    return Path(os.environ.get("CHANGEFLOW_APPROVER_SECRETS") or changeflow_home() / "approver-secrets.yaml")


def approver_registry() -> Path:
    """The approvers' public keys, which governance carries: ``CHANGEFLOW_APPROVER_KEYS``."""
    return Path(os.environ.get("CHANGEFLOW_APPROVER_KEYS") or changeflow_home() / "approver-keys.yaml")


GOVERNANCE_KEYS = "CHANGEFLOW_GOVERNANCE_KEYS"


def governance_pins() -> list[str]:
    """The governance maintainers' public keys this executor trusts (``CHANGEFLOW_GOVERNANCE_KEYS``, comma
    separated, base64). Set: only a bundle sealed by one of them is accepted. Unset: a trial, whose
    records say their governance was unsigned."""
    from changeflow.signing import valid_public_key  # cryptography: loaded where keys are used, not by readers

    keys = [k.strip() for k in os.environ.get(GOVERNANCE_KEYS, "").split(",") if k.strip()]
    for key in keys:
        if not valid_public_key(key):
            raise InvalidSettings(
                GOVERNANCE_KEYS,
                "key",
                f"{key[:20]!r} is not an Ed25519 public key",
                "use the public key `changeflow governance keygen` printed",
            )
    return keys


EXECUTOR_KEY = "CHANGEFLOW_EXECUTOR_KEY"


def executor_key():
    """The key this process signs record versions with (``CHANGEFLOW_EXECUTOR_KEY``: a PEM file only the
    worker's service identity can read), or None: its saves are unsigned."""
    path = os.environ.get(EXECUTOR_KEY, "").strip()
    if not path:
        return None
    from changeflow.signing import PrivateKey

    return PrivateKey.load(Path(path), EXECUTOR_KEY)


CHECKPOINTS = "CHANGEFLOW_CHECKPOINTS"


def checkpoints_dir() -> Path | None:
    """Where this executor keeps its signed checkpoints of the record database (one folder per database,
    written by the worker only): ``CHANGEFLOW_CHECKPOINTS``, else ``checkpoints/`` beside the executor key
    file; None without either (a process holding no executor key keeps none)."""
    if folder := os.environ.get(CHECKPOINTS, "").strip():
        return Path(folder)
    key = os.environ.get(EXECUTOR_KEY, "").strip()
    return Path(key).resolve().parent / "checkpoints" if key else None


CLOCK = "CHANGEFLOW_CLOCK"


def executor_clock(change_type: str | None = None):
    """A scheduling clock set in the executor's configuration (``CHANGEFLOW_CLOCK``: an ISO time with
    offset, or ``TYPE=ISO`` entries separated by commas, one clock per change type): for the demo and
    tests only; a record made under it says so. None: the real clock."""
    text = os.environ.get(CLOCK, "").strip()
    if not text:
        return None
    entries = dict(
        part.split("=", 1) if "=" in part else ("", part) for part in (p.strip() for p in text.split(",")) if part
    )
    chosen = entries.get(change_type or "", entries.get(""))
    if chosen is None:
        return None
    try:
        moment = datetime.fromisoformat(chosen.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidSettings(
            CLOCK,
            "clock",
            f"{chosen[:40]!r} is not an ISO time with offset",
            "e.g. 2026-11-25T22:00:00+01:00 or normal=…,standard=…, or unset it",
        )
    return moment


SCHEDULING_CLOCK = "scheduling_clock"  # the record's note of a clock that was not the real one


def scheduling_clock(now=None, change_type: str | None = None):
    """(the clock a change is scheduled by, where it came from; None: the real clock)."""
    if now is not None:
        return now, "given by the in-process caller"
    if (configured := executor_clock(change_type)) is not None:
        return configured, f"set in the executor's configuration ({CLOCK}), for demos and tests only"
    return datetime.now(timezone.utc), None


def governance_dir() -> Path:
    return Path(os.environ.get("CHANGEFLOW_GOVERNANCE") or paths.EXAMPLES)


def golden_roots() -> list[Path]:
    """The folders a change's golden set may come from: the governance folder (where the governed golden
    sets live) and the ``os.pathsep``-separated ``CHANGEFLOW_GOLDEN_ROOTS``. How a change is judged is not
    any file its requester can name."""
    extra = [Path(p) for p in os.environ.get("CHANGEFLOW_GOLDEN_ROOTS", "").split(os.pathsep) if p.strip()]
    return [governance_dir(), *extra]
