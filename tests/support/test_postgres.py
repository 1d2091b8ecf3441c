"""PostgreSQL fixture: a real SQL round trip, databases on demand, and survival of a restart."""

from __future__ import annotations

import psycopg2
import pytest
import sqlalchemy as sa


def test_sql_round_trip_through_sqlalchemy_psycopg2(postgres):
    url = postgres.create_database("support_roundtrip")
    assert url.startswith("postgresql+psycopg2://")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, name text)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1, 'alice') ON CONFLICT DO NOTHING"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM t WHERE id = 1")).scalar_one() == "alice"
    engine.dispose()


def test_create_database_is_idempotent_and_rejects_odd_names(postgres):
    assert postgres.create_database("support_twice") == postgres.create_database("support_twice")
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        postgres.create_database('x"; DROP DATABASE postgres; --')


def test_data_survives_stop_and_restart(make_postgres):
    pg = make_postgres("restart")
    pg.create_database("durable")
    pg.execute("CREATE TABLE kept (v text)", "durable")
    pg.execute("INSERT INTO kept VALUES ('before restart')", "durable")

    conn = psycopg2.connect(pg.libpq_dsn("durable"))
    pg.stop()
    assert not pg.running
    with pytest.raises(psycopg2.OperationalError), conn.cursor() as cur:
        cur.execute("SELECT 1")
    conn.close()

    pg.start()
    assert pg.running
    assert pg.execute("SELECT v FROM kept", "durable") == [("before restart",)]
    pg.execute("INSERT INTO kept VALUES ('after restart')", "durable")
    assert len(pg.execute("SELECT v FROM kept", "durable")) == 2


def test_init_keeps_an_existing_cluster(make_postgres):
    """A second `make up` must not re-run initdb over the data of the first."""
    pg = make_postgres("reinit")
    pg.create_database("kept_db")
    pg.stop()
    pg.init()  # already initialized: a no-op
    pg.start()
    assert pg.execute("SELECT 1 FROM pg_database WHERE datname = 'kept_db'") == [(1,)]


def test_pgserver_wheel_binaries_serve_where_debian_has_none(
    monkeypatch, work_root, component_log_dir
):
    """Without Debian's server (a laptop without root), the pgserver wheel's binaries are used."""
    from podlab.localstack.postgres import PostgresServer, find_pg_bin
    from podlab.localstack.process import free_port

    monkeypatch.delenv("PODLAB_PG_BIN", raising=False)
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    monkeypatch.setenv("PATH", "/nonexistent")
    chosen = find_pg_bin()
    assert chosen.parts[-3:] == ("pgserver", "pginstall", "bin")
    pg = PostgresServer(work_root / "pg-wheel", component_log_dir / "pg-wheel", free_port())
    assert pg.bin == chosen
    pg.init().start()
    try:
        pg.create_database("from_wheel")
        pg.execute("CREATE TABLE t (v text)", "from_wheel")
        pg.execute("INSERT INTO t VALUES ('wheel')", "from_wheel")
        assert pg.execute("SELECT v FROM t", "from_wheel") == [("wheel",)]
        version = str(pg.execute("SHOW server_version")[0][0])
        assert version.split(".")[0].isdigit()
    finally:
        pg.stop()
