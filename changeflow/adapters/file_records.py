"""Change records kept as JSON files, one per change, written atomically (rename).

The local, always-available record store; the Prefect artifact store publishes the same records.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from changeflow.domain.record import ChangeRecord
from changeflow.exceptions import RecordNotFound


class FileRecordStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _file(self, change_id: str) -> Path:
        return self.path / f"{change_id}.json"

    def save(self, record: ChangeRecord) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{record.id}.", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(record.model_dump_json(indent=1))
            os.replace(tmp, self._file(record.id))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, change_id: str) -> ChangeRecord:
        try:
            return ChangeRecord.model_validate_json(self._file(change_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RecordNotFound(f"no change record {change_id} in {self.path}") from None

    def list(self) -> list[ChangeRecord]:
        if not self.path.is_dir():
            return []
        return [ChangeRecord.model_validate_json(p.read_text(encoding="utf-8")) for p in sorted(self.path.glob("CHG-*.json"))]
