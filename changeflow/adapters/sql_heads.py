"""The cheap reads a checkpoint of the record database needs: each chain's head (a page at a time, from
the versions table, never the current rows a writer may have rewritten) and the highest sequence number.
Mixed into ``SqlRecordStore``, whose ``engine`` they use."""

from __future__ import annotations

from sqlalchemy import URL, Engine, and_, func, select

from changeflow.adapters import sql_schema as schema
from changeflow.domain.history import ChainHead


class ChainHeadReads:
    engine: Engine  # the store's

    @property
    def identity(self) -> str:
        """Which database this is: its URL without user or password (checkpoints are kept per database,
        whichever role reads it: the worker's and an auditor's find the same ones)."""
        url = self.engine.url
        return URL.create(url.drivername, host=url.host, port=url.port, database=url.database).render_as_string()

    def max_seq(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(func.max(schema.versions.c.seq))).scalar() or 0

    def chain_heads(self, after: str | None = None, limit: int = 1000) -> list[ChainHead]:
        v = schema.versions.c
        last = select(v.change_id, func.max(v.version).label("version")).group_by(v.change_id)
        if after is not None:
            last = last.where(v.change_id > after)
        last = last.order_by(v.change_id).limit(limit).subquery()
        statement = (
            select(v.change_id, v.version, v.sha256, v.seq)
            .join(last, and_(v.change_id == last.c.change_id, v.version == last.c.version))
            .order_by(v.change_id)
        )
        with self.engine.connect() as connection:
            return [ChainHead(*row) for row in connection.execute(statement)]
