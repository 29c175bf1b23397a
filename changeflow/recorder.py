"""Writes a change's steps and transitions to its record, and persists the record at each update.

Tasks use ``recorder.step(phase, name)``; the record is saved when a step starts and when it ends,
so a crash leaves an honest record of how far the change got.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from changeflow.domain.record import ChangeRecord, Phase, StepOutcome
from changeflow.domain.types import State


class RecordStore(Protocol):
    def save(self, record: ChangeRecord) -> None: ...

    def load(self, change_id: str) -> ChangeRecord: ...


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
    def __init__(self, record: ChangeRecord, store: RecordStore, clock: Callable[[], datetime] = utc_now) -> None:
        self.record = record
        self._store = store
        self._clock = clock
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
            self.record.transition(to, self._clock(), reason)
            self._save()

    def note(self, **fields) -> None:
        """Set record fields (e.g. serving versions) and save."""
        with self._lock:
            for name, value in fields.items():
                setattr(self.record, name, value)
            self._save()

    @contextmanager
    def step(self, phase: Phase, name: str) -> Iterator[StepHandle]:
        handle = StepHandle()
        with self._lock:
            self.record.start_step(phase, name, self._clock())
            self._save()
        try:
            yield handle
        except BaseException as exc:
            with self._lock:
                detail = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
                self.record.finish_step(phase, name, self._clock(), StepOutcome.FAILED, detail)
                self._save()
            raise
        with self._lock:
            self.record.finish_step(phase, name, self._clock(), handle.outcome, handle.detail)
            self._save()
