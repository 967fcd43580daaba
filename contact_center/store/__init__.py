"""Storage: one schema (SQLAlchemy 2, async), Alembic migrations, SQLite or PostgreSQL."""
