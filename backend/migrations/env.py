"""Alembic environment: migrates the connection handed over by `backend.db.migrate`.

`upgrade_database(url)` passes an open connection in `config.attributes["connection"]`;
without one (the `alembic` command line with `-x url=...` or `sqlalchemy.url`) an engine is built
from the URL with `backend.db.session.make_engine`. SQLite runs in batch mode so ALTERs work.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from backend.db.models import Base
from backend.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database: pass -x url=... or set sqlalchemy.url")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
