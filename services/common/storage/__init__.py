"""Persistence: SQLAlchemy models, the one session helper, Alembic migrations shipped in the package.

ORM rows never leave this package and the repositories of each service: they return frozen
dataclasses.
"""
