"""``changeflow serve`` keeps Prefect's own database on a private PostgreSQL where one can start (SQLite
lost clicks to ``database is locked`` under the housekeeping runs), and says which database it runs."""

import pytest
from sqlalchemy import create_engine, text

from changeflow.local.postgres import missing_reason


@pytest.mark.postgres
def test_serve_puts_prefects_database_on_a_private_postgresql(capsys):
    from changeflow.cli.serve import private_postgres

    if (reason := missing_reason()) is not None:
        pytest.skip(reason)
    database, url = private_postgres()
    try:
        assert database is not None and url.startswith("postgresql+asyncpg://") and url.endswith("/prefect")
        with create_engine(url.replace("+asyncpg", "+psycopg")).connect() as connection:
            assert connection.execute(text("select current_database()")).scalar_one() == "prefect"
        assert "Prefect's database: a private PostgreSQL on port" in capsys.readouterr().out
    finally:
        if database is not None:
            database.__exit__(None, None, None)


def test_without_postgresql_serve_says_it_runs_on_sqlite(monkeypatch, capsys):
    import changeflow.local.postgres as postgres
    from changeflow.cli.serve import private_postgres

    monkeypatch.setattr(postgres, "postgres_bin", lambda: None)
    assert private_postgres() == (None, None)
    assert "Prefect's database: SQLite (PostgreSQL server is not installed" in capsys.readouterr().out
