"""Writes a change's steps and transitions to its record, and saves the record at each update.

Tasks use ``recorder.step(phase, name)``; the record is saved when a step starts and when it ends, so
a crash leaves an honest record of how far the change got. ``touching_production()`` is said before the
first effect on production: it is what compensation decides by.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

from changeflow.domain.record import ChangeRecord, Phase, State, StepOutcome
from changeflow.ports import RecordStore


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class StepHandle:
    """What a step reports: its detail, and whether it failed without raising."""

    detail: str = ""
    outcome: StepOutcome = StepOutcome.OK

    def fail(self, detail: str) -> None:
        self.outcome, self.detail = StepOutcome.FAILED, detail


class Recorder:
    def __init__(self, record: ChangeRecord, store: RecordStore) -> None:
        self.record = record
        self._store = store
        self._lock = threading.Lock()

    def reload(self) -> ChangeRecord:
        """Re-read the record from the store (after a subflow wrote to it) and return it."""
        with self._lock:
            self.record = self._store.load(self.record.id)
            return self.record

    def _save(self) -> None:
        self._store.save(self.record)

    def transition(self, to: State, reason: str = "") -> None:
        with self._lock:
            self.record.transition(to, utc_now(), reason)
            self._save()

    def note(self, **fields) -> None:
        """Set record fields (e.g. serving versions) and save."""
        with self._lock:
            for name, value in fields.items():
                setattr(self.record, name, value)
            self._save()

    def attach(self, key: str, produce: Callable[[], str]) -> str:
        """Keep ``produce()`` on the record under ``key`` once: a re-run never replaces the true original
        (and never reads it again)."""
        if key not in self.record.attachments:
            self.note(attachments={**self.record.attachments, key: produce()})
        return self.record.attachments[key]

    def touching_production(self) -> None:
        """Said before the first effect on production: from here on, a failure must restore it."""
        if not self.record.production_touched:
            self.note(production_touched=True)

    @contextmanager
    def step(self, phase: Phase, name: str) -> Iterator[StepHandle]:
        handle = StepHandle()
        with self._lock:
            self.record.start_step(phase, name, utc_now())
            self._save()
        try:
            yield handle
        except BaseException as exc:
            with self._lock:
                detail = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
                self.record.finish_step(phase, name, utc_now(), StepOutcome.FAILED, detail)
                self._save()
            raise
        with self._lock:
            self.record.finish_step(phase, name, utc_now(), handle.outcome, handle.detail)
            self._save()
