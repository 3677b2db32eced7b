"""Persistence plumbing every service shares: the declarative base (``base``), statements compiled
once per dialect (``statements``), the one transaction helper (``db``), SQLite group commit
(``group_commit``), engines and migrations (``engine``). Each service declares its own tables
(``services/<service>/tables.py``); rows never leave its repository, which returns the domain's
dataclasses. The migration history of all tables is ``services/migrations``.
"""
