"""Change records in a SQL database: the system of record (SQLAlchemy 2 Core, Alembic migrations).

An embedded SQLite file by default, PostgreSQL when the URL says so (``postgresql+psycopg://…``), the
same code. Every save appends a version to ``change_record_versions`` (who wrote it, when, chained to
the version before by SHA-256) and updates the record's current row in ``change_records``, both in one
transaction; readers query the current rows by the indexed columns, a page at a time. The current rows
are a derived cache: an executor acts only on a record whose current row equals its chain's signed head
(``services.audit.trusted``). Opening a store migrates the schema when its role may (``sql_migrate``).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from changeflow.adapters import sql_schema as schema
from changeflow.adapters.sql_heads import ChainHeadReads
from changeflow.adapters.sql_migrate import _migrated, engine_for, migrate  # noqa: F401 (the store's engine and migration)
from changeflow.domain.dora import ChangeFacts, change_facts
from changeflow.domain.history import (
    GENESIS,
    FactsPage,
    NewestPage,
    RecordLine,
    RecordPage,
    RecordQuery,
    RecordVersion,
    link_digest,
    version_message,
)
from changeflow.domain.record import ChangeRecord
from changeflow.exceptions import RecordNotFound, RecordStoreError


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(timezone.utc) if moment is not None else None


class SqlRecordStore(ChainHeadReads):
    def __init__(self, url: str, writer=lambda: "changeflow", signer=None) -> None:
        """``writer()`` names who is saving (host, process, flow run): kept on every version. ``signer``
        (an executor's ``signing.PrivateKey``) signs each version; without one, versions are saved
        unsigned, and an executor that checks signatures will not act on them."""
        self.url = url
        self._writer, self._signer = writer, signer
        self.engine = engine_for(url)
        try:
            migrate(self.engine)
        except OperationalError as exc:
            reason = " ".join(str(exc.orig).split())
            raise RecordStoreError(
                f"record database {self.engine.url.render_as_string()} cannot be opened ({reason}); fix: check records.url"
            ) from None

    # --- writing ---------------------------------------------------------------------------------

    def save(self, record: ChangeRecord) -> RecordVersion:
        content = record.model_dump_json()
        writer = self._writer()[:255]  # the column's width
        for _ in range(20):  # another writer may take the same version number: take the next one
            try:
                return self._append(record, content, writer)
            except IntegrityError:
                continue
        raise RecordStoreError(f"could not save {record.id}: version numbers kept colliding")

    def _append(self, record: ChangeRecord, content: str, writer: str) -> RecordVersion:
        now = datetime.now(timezone.utc)
        with self.engine.begin() as connection:
            head = connection.execute(  # the current row is the chain's head: one read gives number, digest and transitions
                select(schema.current.c.version, schema.current.c.sha256, schema.current.c.transitions).where(
                    schema.current.c.id == record.id
                )
            ).first()
            number, previous, before = (head.version + 1, head.sha256, head.transitions) if head else (1, GENESIS, 0)
            seq = (
                connection.execute(select(func.max(schema.versions.c.seq))).scalar() or 0
            ) + 1  # a collision retries (unique)
            sha256 = link_digest(previous, record.id, number, writer, content)
            signer, signature = (
                (self._signer.key_id, self._signer.sign(version_message(seq, sha256)))
                if self._signer is not None
                else ("", "")
            )
            version = RecordVersion(
                change_id=record.id,
                version=number,
                saved_at=now,
                writer=writer,
                state=record.state,
                transitions_before=before,
                previous_sha256=previous,
                sha256=sha256,
                content=content,
                seq=seq,
                signer=signer,
                signature=signature,
            )
            connection.execute(
                insert(schema.versions).values(
                    change_id=record.id,
                    version=number,
                    saved_at=now,
                    writer=writer,
                    state=record.state.value,
                    previous_sha256=previous,
                    sha256=sha256,
                    content=content,
                    seq=seq,
                    signer=signer,
                    signature=signature,
                )
            )
            row = {
                "model": record.model,
                "state": record.state.value,
                "type": record.type.value,
                "kind": record.kind,
                "opened_at": _utc(record.transitions[0].at if record.transitions else now),
                "updated_at": now,
                "slot_start": _utc(record.slot_start),
                "version": number,
                "transitions": len(record.transitions),
                "sha256": version.sha256,
                "content": content,
                "facts": change_facts(record).model_dump_json(),
            }
            if number == 1:
                connection.execute(insert(schema.current).values(id=record.id, **row))
            else:
                connection.execute(update(schema.current).where(schema.current.c.id == record.id).values(**row))
        return version

    def claim_proof(self, key: str, change_id: str) -> bool:
        """Mark a proof used; False when it was used before (a replay), whatever change it was for."""
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    insert(schema.used_proofs).values(
                        key=key[:128], change_id=change_id, used_at=datetime.now(timezone.utc)
                    )
                )
        except IntegrityError:
            return False
        return True

    # --- reading ---------------------------------------------------------------------------------

    def load(self, change_id: str) -> ChangeRecord:
        with self.engine.connect() as connection:
            content = connection.execute(
                select(schema.current.c.content).where(schema.current.c.id == change_id)
            ).scalar()
        if content is None:
            raise RecordNotFound(f"no change record {change_id} in the record database")
        return _record(content)

    def page(self, query: RecordQuery) -> RecordPage:
        rows = self._select(query, schema.current.c.content)
        records = [_record(content) for content in rows[: query.limit]]
        return RecordPage(records=records, next_after=records[-1].id if len(rows) > query.limit else None)

    def facts_page(self, query: RecordQuery) -> FactsPage:
        """What the DORA report needs of each matching record, without reading the records."""
        rows = self._select(query, schema.current.c.id, schema.current.c.model, schema.current.c.facts)
        facts = [
            ChangeFacts.model_validate_json(row.facts).model_copy(update={"model": row.model})
            if row.facts
            else change_facts(self.load(row.id))
            for row in rows[: query.limit]
        ]
        return FactsPage(facts=facts, next_after=facts[-1].id if len(rows) > query.limit else None)

    def newest(self, query: RecordQuery, offset: int = 0) -> NewestPage:
        """One page newest first: the page's records are the only ones read, each parsed as a line only; the
        total is a count."""
        c = schema.current.c
        where = and_(True, *self._where(query))
        statement = (
            select(c.content)
            .where(where)
            .order_by(c.opened_at.desc(), c.id.desc())
            .offset(max(0, offset))
            .limit(query.limit)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(statement).scalars().all()
            total = connection.execute(select(func.count()).select_from(schema.current).where(where)).scalar_one()
        return NewestPage(records=[RecordLine.model_validate_json(content) for content in rows], total=total)

    def _select(self, query: RecordQuery, *columns) -> list:
        c = schema.current.c
        where = self._where(query)
        if query.after is not None:
            where.append(c.id > query.after)
        statement = select(*columns).where(and_(True, *where)).order_by(c.id).limit(query.limit + 1)
        with self.engine.connect() as connection:
            result = connection.execute(statement)
            return result.scalars().all() if len(columns) == 1 else result.all()

    @staticmethod
    def _where(query: RecordQuery) -> list:
        c = schema.current.c
        where = []
        if query.model is not None:
            where.append(c.model == query.model)
        if query.states is not None:
            where.append(c.state.in_(sorted(s.value for s in query.states)))
        if query.types is not None:
            where.append(c.type.in_(sorted(t.value for t in query.types)))
        for column, bound, op in (
            (c.opened_at, query.opened_from, "ge"),
            (c.opened_at, query.opened_until, "lt"),
            (c.updated_at, query.updated_since, "ge"),
            (c.slot_start, query.slot_from, "ge"),
            (c.slot_start, query.slot_until, "lt"),
        ):
            if bound is not None:
                where.append(column >= _utc(bound) if op == "ge" else column < _utc(bound))
        return where

    def count(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(schema.current)).scalar_one()

    def history(self, change_id: str) -> list[RecordVersion]:
        v = schema.versions.c
        with self.engine.connect() as connection:
            rows = (
                connection.execute(select(schema.versions).where(v.change_id == change_id).order_by(v.version))
                .mappings()
                .all()
            )
        if not rows:
            raise RecordNotFound(f"no change record {change_id} in the record database")
        return [
            RecordVersion(**{**row, "saved_at": row["saved_at"].replace(tzinfo=row["saved_at"].tzinfo or timezone.utc)})
            for row in rows
        ]


def _record(content: str) -> ChangeRecord:
    """A stored record. The kinds registry binds the request's spec into ``ChangeRequest``: imported here on
    first use, not with the module, so that ``changeflow list`` (lines only) never loads it."""
    import changeflow.kinds  # noqa: F401

    return ChangeRecord.model_validate_json(content)
