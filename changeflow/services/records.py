"""Reading the system of record a page at a time.

``every(store, query)`` is how a reader sees *all* matching records: it follows the page cursor to the
end, so no list is ever cut silently. ``related_changes`` is what a new request's risk and conflicts need.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from changeflow.domain.dora import ChangeFacts
from changeflow.domain.history import RecordQuery, open_changes, recent_failures
from changeflow.domain.record import ChangeRecord
from changeflow.domain.request import ChangeRequest
from changeflow.ports import RecordStore


def _follow(read_page, items, query: RecordQuery) -> Iterator:
    """Read ``query`` a page at a time, following the cursor to the last page."""
    while True:
        page = read_page(query)
        yield from items(page)
        if page.next_after is None:
            return
        query = query.next_page(page.next_after)


def every(store: RecordStore, query: RecordQuery | None = None) -> Iterator[ChangeRecord]:
    """Every record matching ``query``, in ID order, a page at a time."""
    return _follow(store.page, lambda page: page.records, query or RecordQuery())


def every_fact(store: RecordStore, query: RecordQuery | None = None) -> Iterator[ChangeFacts]:
    """The DORA facts of every record matching ``query``, a page at a time (no record is read whole)."""
    return _follow(store.facts_page, lambda page: page.facts, query or RecordQuery())


def related_changes(store: RecordStore, request: ChangeRequest, now: datetime) -> list[ChangeRecord]:
    """The other changes to the request's model that bear on it: open ones (window conflicts) and recent
    failures (risk), asked of the store by model and state rather than read from the whole history."""
    found = {
        r.id: r
        for query in (open_changes(request.model), recent_failures(request.model, now))
        for r in every(store, query)
    }
    found.pop(request.id, None)
    return [found[key] for key in sorted(found)]
