"""Demetra's database schema migrations (Alembic) and the ``demetra-migrate`` command that runs them."""
