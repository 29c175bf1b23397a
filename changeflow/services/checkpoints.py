"""Signed checkpoints of every chain head, kept outside the record database: what makes a deleted record
or a chain cut short visible, even when the globally last versions were deleted (no gap in the sequence
shows then).

A checkpoint is each record's last version (number and SHA-256) and the highest sequence number, for
one database, signed by the executor's key. The worker writes one at the end of every safety-net run
(``keep_checkpoint``) into its checkpoint folder (``settings.defaults.checkpoints_dir``, one sub-folder
per database, the newest ``KEEP`` files kept) and announces it as a ``changeflow.records.checkpoint``
event. A new one is written only when it extends the one before: a record of the last checkpoint gone,
shorter or rewritten, or the sequence lower, refuses the new checkpoint (``RecordTampered``), so a cut
is never laundered into a fresh checkpoint. Executors (``held_back``, called by ``audit.trusted``) and
``changeflow audit verify`` compare the database with the newest checkpoint whose signature verifies;
one that does not verify is never trusted, only reported.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from changeflow.domain.history import ChainBreak, ChainHead, RecordVersion
from changeflow.exceptions import InvalidSettings, RecordNotFound, RecordTampered
from changeflow.ports import RecordStore
from changeflow.signing import verify

log = logging.getLogger("changeflow.checkpoints")
KEEP = 100  # checkpoint files kept per database
PREFIX, SUFFIX = "checkpoint-", ".json"
PAGE = 1000


class Checkpoint(BaseModel):
    """Every chain's head and the highest sequence number of one database at one moment, signed by an
    executor and kept outside the database: a later chain shorter than its head here was truncated, a
    record missing here was deleted. ``store`` and ``written_at`` are empty in an ``audit export`` of
    earlier releases (then the signature covers the heads themselves, format v1)."""

    seq: int = 0
    heads: dict[str, tuple[int, str]] = {}
    store: str = ""
    written_at: str = ""
    signer: str = ""
    signature: str = ""

    def heads_sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.heads, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def message(self) -> bytes:
        """What the executor signs. v2 covers the heads by their digest, so an event too small for the
        heads still carries a signature that checks a kept file's heads."""
        if not self.store and not self.written_at:
            return (
                "changeflow-checkpoint-v1\n"
                + json.dumps({"seq": self.seq, "heads": self.heads}, sort_keys=True, separators=(",", ":"))
            ).encode()
        facts = {
            "store": self.store,
            "written_at": self.written_at,
            "seq": self.seq,
            "heads_sha256": self.heads_sha256(),
        }
        return ("changeflow-checkpoint-v2\n" + json.dumps(facts, sort_keys=True, separators=(",", ":"))).encode()

    def sign(self, signer) -> Checkpoint:
        self.signer, self.signature = signer.key_id, signer.sign(self.message())
        return self

    def signed_by(self, seals) -> bool:
        """True when an executor of ``seals`` (``VersionSeals``) signed it."""
        name_key = seals.keys.get(self.signer) if seals is not None else None
        return name_key is not None and verify(name_key[1], self.message(), self.signature)

    def line(self) -> str:
        """The checkpoint as the last line of an export and as a checkpoint file: ``read_checkpoint`` reads both."""
        return json.dumps(
            {
                "heads": {k: {"version": v, "sha256": d} for k, (v, d) in self.heads.items()},
                "checkpoint": self.model_dump(mode="json"),
            }
        )


def read_checkpoint(text: str, seals) -> Checkpoint:
    """The checkpoint on the last line of an ``audit export`` or of a checkpoint file; its signature
    checked when ``seals`` are known."""
    try:
        checkpoint = Checkpoint.model_validate(json.loads(text.strip().splitlines()[-1])["checkpoint"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise InvalidSettings(
            "--checkpoint",
            "(file)",
            "has no checkpoint on its last line",
            "pass a file written by `changeflow audit export` or `audit checkpoint`",
        ) from None
    if seals is not None and not checkpoint.signed_by(seals):
        raise InvalidSettings(
            "--checkpoint",
            "signature",
            "is not a valid executor signature",
            "use a checkpoint written by a worker holding an executor key",
        )
    return checkpoint


def checkpoint_breaks(
    checkpoint: Checkpoint,
    walked: dict[str, list[RecordVersion]],
    max_seq: int | None = None,
    as_seen: frozenset[str] = frozenset(),
) -> list[ChainBreak]:
    """What the database lost since ``checkpoint``: records deleted, chains truncated or rewritten, and
    (``max_seq``: the database's highest sequence number) the globally last versions deleted. ``as_seen``:
    records whose head is still the checkpoint's (not walked)."""
    breaks = []
    for change_id, (version, sha256) in sorted(checkpoint.heads.items()):
        if change_id in as_seen:
            continue
        versions = walked.get(change_id) or []
        if (problem := head_problem(versions, version, sha256)) is not None:
            breaks.append(
                ChainBreak(
                    change_id=change_id,
                    version=len(versions) if 0 < len(versions) < version else version,
                    reason=problem,
                )
            )
    if max_seq is not None and max_seq < checkpoint.seq:
        breaks.append(ChainBreak(change_id="(sequence)", version=max_seq, reason=sequence_problem(checkpoint, max_seq)))
    return breaks


def head_problem(versions: list[RecordVersion], version: int, sha256: str) -> str | None:
    if not versions:
        return "the checkpoint has this record; the database does not (deleted)"
    if len(versions) < version:
        return f"the checkpoint has version {version}; the chain ends at {len(versions)} (truncated)"
    if versions[version - 1].sha256 != sha256:
        return "this version is not the one the checkpoint saw (rewritten)"
    return None


def sequence_problem(checkpoint: Checkpoint, max_seq: int) -> str:
    return f"the checkpoint saw versions up to sequence {checkpoint.seq}; the database's end at {max_seq} (the latest versions were deleted: truncated)"


# --- executors: the newest kept checkpoint, checked before acting -----------------------------------


def store_folder(folder: Path, store: RecordStore) -> Path:
    """The sub-folder of ``folder`` that holds the checkpoints of ``store``'s database."""
    return Path(folder) / hashlib.sha256(store.identity.encode()).hexdigest()[:16]


_read: dict[tuple, Checkpoint | None] = {}  # (file, mtime, size, seals) -> verified checkpoint, or None (not trusted)


def newest(folder: Path | None, store: RecordStore, seals) -> tuple[Checkpoint, Path] | None:
    """The newest checkpoint of ``store``'s database in ``folder`` (a checkpoint folder, or one database's
    sub-folder) signed by an executor of ``seals``; None when there is none. A file that does not verify
    is logged once and skipped, never trusted. Parsed files are cached: a call costs a directory listing."""
    if folder is None or seals is None:
        return None
    for where in (store_folder(folder, store), Path(folder)):
        try:
            names = sorted((n for n in os.listdir(where) if n.startswith(PREFIX) and n.endswith(SUFFIX)), reverse=True)
        except OSError:
            continue
        for name in names:
            if (checkpoint := _verified(where / name, store, seals)) is not None:
                return checkpoint, where / name
    return None


def _verified(path: Path, store: RecordStore, seals) -> Checkpoint | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size, tuple(sorted(seals.keys)), store.identity)
    if key not in _read:
        try:
            checkpoint = read_checkpoint(path.read_text(encoding="utf-8"), None)
        except (OSError, UnicodeDecodeError, InvalidSettings):
            checkpoint = None
        if checkpoint is None or not checkpoint.signed_by(seals):
            log.warning(
                "checkpoint %s is not signed by an executor of the governance bundle: ignored, not trusted", path
            )
            checkpoint = None
        elif checkpoint.store != store.identity:
            log.warning("checkpoint %s is of another database (%s): ignored", path, checkpoint.store)
            checkpoint = None
        if len(_read) > 256:
            _read.clear()
        _read[key] = checkpoint
    return _read[key]


def held_back(
    store: RecordStore, change_id: str, versions: list[RecordVersion], seals, folder: Path | None = None
) -> str | None:
    """Why an executor must not act on ``change_id`` (its verified ``versions``) given the newest kept
    checkpoint: its chain shorter than the checkpoint's head or that version rewritten, or the database's
    versions ending below the checkpoint's sequence. None: nothing is held back (or no checkpoint kept)."""
    from changeflow.settings.defaults import checkpoints_dir

    kept = newest(folder if folder is not None else checkpoints_dir(), store, seals)
    if kept is None:
        return None
    checkpoint, path = kept
    if change_id in checkpoint.heads:
        version, sha256 = checkpoint.heads[change_id]
        if len(versions) < version:
            return f"its chain ends at version {len(versions)}, checkpoint {path.name} saw version {version}: truncated since that checkpoint"
        if versions[version - 1].sha256 != sha256:
            return f"version {version} is not the one checkpoint {path.name} saw: rewritten since that checkpoint"
    if (top := store.max_seq()) < checkpoint.seq:
        return f"truncated since checkpoint {path.name}: {sequence_problem(checkpoint, top)}"
    return None


# --- the worker: taking, keeping and announcing one ---------------------------------------------------


def chain_heads(store: RecordStore) -> Iterator[ChainHead]:
    """Every record's head, a page at a time."""
    after = None
    while True:
        page = store.chain_heads(after, PAGE)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].change_id


def take(store: RecordStore, previous: Checkpoint | None = None, now: datetime | None = None) -> Checkpoint:
    """The unsigned checkpoint of ``store`` now; ``RecordTampered`` when it does not extend ``previous``."""
    top = store.max_seq()  # first: every version up to it is committed, so its record's head is read below
    checkpoint = Checkpoint(
        store=store.identity, written_at=(now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()
    )
    grown = []
    for head in chain_heads(store):
        checkpoint.heads[head.change_id] = (head.version, head.sha256)
        checkpoint.seq = max(checkpoint.seq, head.seq or 0)
        if previous is not None and previous.heads.get(head.change_id) != (head.version, head.sha256):
            grown.append(head.change_id)
    checkpoint.seq = max(checkpoint.seq, top)
    if previous is not None and (
        problems := _since(previous, store, grown, top, set(previous.heads) - set(checkpoint.heads))
    ):
        raise RecordTampered(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return checkpoint


def _since(previous: Checkpoint, store: RecordStore, grown: list[str], top: int, gone: set[str]) -> list[str]:
    """What the database lost since ``previous``: only the records whose head moved are read."""
    problems = [f"{change_id}: {head_problem([], *previous.heads[change_id])}" for change_id in sorted(gone)]
    new_seqs = []
    for change_id in grown:
        versions = history_or_none(store, change_id)
        if change_id in previous.heads and (problem := head_problem(versions, *previous.heads[change_id])) is not None:
            problems.append(f"{change_id}: {problem}")
        new_seqs += [v.seq for v in versions if v.seq is not None and previous.seq < v.seq <= top]
    if top < previous.seq:
        problems.append(sequence_problem(previous, top))
    expected = previous.seq + 1
    for seq in sorted(set(new_seqs)):
        if seq > expected:
            problems.append(
                f"versions {expected}..{seq - 1} of the global sequence are missing (a deleted record or version)"
            )
        expected = seq + 1
    if previous.seq < expected <= top:  # the highest ones gone with a record deleted while this was taken
        problems.append(f"versions {expected}..{top} of the global sequence are missing (a deleted record or version)")
    return problems


def history_or_none(store: RecordStore, change_id: str) -> list[RecordVersion]:
    """A record's versions, or none when the database has no such record (deleted)."""
    try:
        return store.history(change_id)
    except RecordNotFound:
        return []


@dataclass
class Kept:
    """The checkpoint kept after a run: ``path`` of its file, ``written`` False when nothing changed."""

    checkpoint: Checkpoint
    path: Path
    written: bool


def keep_checkpoint(
    store: RecordStore,
    signer,
    seals,
    folder: Path,
    publish: Callable[[str, dict], object] | None = None,
    keep: int = KEEP,
    now: datetime | None = None,
) -> Kept:
    """Take, sign and keep a checkpoint of ``store`` in ``folder`` (atomically, the newest ``keep`` files
    kept) and ``publish("checkpoint", payload)`` it; unchanged since the newest one: nothing written. A
    database that lost versions since the newest one: ``publish("checkpoint-refused", …)``, then
    ``RecordTampered`` (no checkpoint written: the loss stays visible)."""
    previous = newest(folder, store, seals)
    try:
        checkpoint = take(store, previous[0] if previous else None, now)
    except RecordTampered as exc:
        message = f"the record database lost versions since checkpoint {previous[1].name}: {exc}; no checkpoint written"
        if publish is not None:
            publish("checkpoint-refused", {"store": store.identity, "since": previous[1].name, "problem": str(exc)})
        raise RecordTampered(message) from None
    if previous is not None and (previous[0].seq, previous[0].heads) == (checkpoint.seq, checkpoint.heads):
        return Kept(previous[0], previous[1], False)
    checkpoint.sign(signer)
    path = _write(store_folder(folder, store), checkpoint, keep)
    if publish is not None:
        publish(
            "checkpoint",
            {**checkpoint.model_dump(mode="json"), "heads_sha256": checkpoint.heads_sha256(), "file": path.name},
        )
    return Kept(checkpoint, path, True)


def _write(where: Path, checkpoint: Checkpoint, keep: int) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(checkpoint.written_at).strftime("%Y%m%dT%H%M%S.%fZ")
    path = where / f"{PREFIX}{stamp}-seq{checkpoint.seq:012d}{SUFFIX}"
    temporary = where / f".{path.name}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(checkpoint.line() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    for old in sorted(n for n in os.listdir(where) if n.startswith(PREFIX) and n.endswith(SUFFIX))[: -keep or None]:
        (where / old).unlink(missing_ok=True)
    return path
