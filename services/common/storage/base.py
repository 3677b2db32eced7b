"""The declarative base every service's tables module builds on: one metadata, so one database may
hold every service's tables and one migration history (``services/migrations``) covers them all.

Times are UTC epoch seconds (float): the same on SQLite and PostgreSQL, no time zone surprises.
"""
from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
