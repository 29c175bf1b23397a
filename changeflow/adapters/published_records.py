"""A record store whose saves are also published: the system of record first, then the face.

``PublishedRecords`` saves to the record database (the system of record) and then publishes the version
(Prefect's artifact and events); a publisher that is down is logged and does not lose the record. Reads
go to the database alone.
"""

from __future__ import annotations

import logging

from changeflow.domain.history import ChainHead, FactsPage, NewestPage, RecordPage, RecordQuery, RecordVersion
from changeflow.domain.record import ChangeRecord
from changeflow.ports import RecordPublisher, RecordStore

log = logging.getLogger("changeflow.records")


class PublishedRecords:
    """A record store whose saves are also published; reads go to the store alone."""

    def __init__(self, store: RecordStore, publisher: RecordPublisher) -> None:
        self.store, self.publisher = store, publisher

    def save(self, record: ChangeRecord) -> RecordVersion:
        version = self.store.save(record)
        try:
            self.publisher.publish(record, version)
        except Exception as exc:  # the record is safe in the store; the face catches up on the next save
            log.warning("record %s version %d saved but not published: %s", record.id, version.version, exc)
        return version

    def load(self, change_id: str) -> ChangeRecord:
        return self.store.load(change_id)

    def page(self, query: RecordQuery) -> RecordPage:
        return self.store.page(query)

    def claim_proof(self, key: str, change_id: str) -> bool:
        return self.store.claim_proof(key, change_id)

    def newest(self, query: RecordQuery, offset: int = 0) -> NewestPage:
        return self.store.newest(query, offset)

    def facts_page(self, query: RecordQuery) -> FactsPage:
        return self.store.facts_page(query)

    def history(self, change_id: str) -> list[RecordVersion]:
        return self.store.history(change_id)

    @property
    def identity(self) -> str:
        return self.store.identity

    def max_seq(self) -> int:
        return self.store.max_seq()

    def chain_heads(self, after: str | None = None, limit: int = 1000) -> list[ChainHead]:
        return self.store.chain_heads(after, limit)
