"""Alembic environment and revisions (run through ``contact_center.store.migrate``)."""
