"""``changeflow list``'s one query over the database's own driver (``sqlite3``, ``psycopg``), without
SQLAlchemy: importing SQLAlchemy takes a third of a second here, and a list must answer in under one at
10,000 records (#27). The query is ``SqlRecordStore.newest``'s, for the filters a list uses (model, states,
types); ``tests/adapters/test_sql_lines.py`` holds the two equal on SQLite and PostgreSQL. Anything else
(another driver, URL options, a schema not at the newest revision, another filter) is left to the store,
which migrates or says why: ``newest`` then answers None."""

from __future__ import annotations

from contextlib import closing

from changeflow.domain.history import NewestPage, RecordLine, RecordQuery

TABLE, VERSION_TABLE = "change_records", "changeflow_alembic_version"  # sql_schema.current, sql_migrate's
HEAD = "0005"  # sql_migrate.HEAD, held to it by the test (importing sql_migrate imports SQLAlchemy)
LIST_FILTERS = frozenset({"model", "states", "types", "limit"})


class RecordLines:
    """Pages of ``RecordLine``, newest first, read straight from the record database at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url

    def newest(self, query: RecordQuery, offset: int = 0) -> NewestPage | None:
        """The page and the count of all that match; None when the store must answer instead."""
        if query.model_fields_set - LIST_FILTERS:
            return None
        connect = self._driver()
        if connect is None:
            return None
        try:
            connection, mark = connect()
        except Exception:  # no such database yet, or not reachable: the store creates it or says why
            return None
        where, values = _where(query, mark)
        with closing(connection):
            cursor = connection.cursor()
            try:
                cursor.execute(f"SELECT version_num FROM {VERSION_TABLE}")
                if [row[0] for row in cursor.fetchall()] != [HEAD]:
                    return None
                cursor.execute(
                    f"SELECT content FROM {TABLE}{where} ORDER BY opened_at DESC, id DESC LIMIT {mark} OFFSET {mark}",
                    (*values, query.limit, max(0, offset)),
                )
                contents = [row[0] for row in cursor.fetchall()]
                cursor.execute(f"SELECT count(*) FROM {TABLE}{where}", values)
                total = cursor.fetchone()[0]
            except Exception:  # no schema yet, not readable, locked: the store decides and says why
                return None
        return NewestPage(records=[RecordLine.model_validate_json(c) for c in contents], total=total)

    def _driver(self):
        """A function opening a connection, with the driver's parameter mark; None for a URL left to the store."""
        scheme, _, rest = self.url.partition("://")
        if "?" in rest:
            return None
        if scheme == "sqlite" and rest.startswith("/") and rest[1:] not in ("", ":memory:"):
            import sqlite3
            from pathlib import Path

            path = Path(rest[1:]).resolve()  # sqlite:///relative.db, sqlite:////absolute.db, as SQLAlchemy reads them
            return lambda: (sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=60), "?")
        if scheme in ("postgresql", "postgresql+psycopg"):
            import psycopg

            return lambda: (psycopg.connect(f"postgresql://{rest}", autocommit=True), "%s")
        return None


def _where(query: RecordQuery, mark: str) -> tuple[str, tuple]:
    clauses, values = [], []
    if query.model is not None:
        clauses.append(f"model = {mark}")
        values.append(query.model)
    for column, chosen in (("state", query.states), ("type", query.types)):
        if chosen is not None:
            names = sorted(c.value for c in chosen)
            clauses.append(f"{column} IN ({', '.join([mark] * len(names))})" if names else "1 = 0")
            values.extend(names)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(values)
