"""Control-plane database: ORM models, engine/session factories, migrations."""
