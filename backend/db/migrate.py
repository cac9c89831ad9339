"""Programmatic `alembic upgrade head`, independent of the working directory.

`upgrade_database(url)` builds the Alembic config in code (script location = the
`backend/migrations` package), opens one connection and upgrades it to the newest revision.
Safe to call on every start: an up-to-date database is left alone. `alembic_config(url)` is the
same config for other Alembic commands (e.g. `command.revision(..., autogenerate=True)`).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL

from backend.db.session import make_engine, normalize_url

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | URL | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        # ConfigParser interpolates '%': escape it (it appears in URL-encoded passwords).
        rendered = normalize_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade_database(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision` (default: the newest)."""
    config = alembic_config()
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
