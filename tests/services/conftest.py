"""Fixtures of the service tests (helpers in helpers_services.py)."""
import pytest

from helpers_services import ServiceProcess, _pg_create, _pg_drop


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """The same tests on the embedded default and on PostgreSQL (psycopg 3)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'omp.db'}"
        return
    name = _pg_create()
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        _pg_drop(name)


@pytest.fixture
def pg_url():
    """A database of its own on PostgreSQL: what several services on several hosts share."""
    name = _pg_create()
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        _pg_drop(name)


@pytest.fixture
def db(database_url):
    """A migrated database of each kind."""
    from omp_services.common.storage.db import Database
    from omp_services.migrations import migrate
    d = Database(database_url)
    migrate(d)
    yield d
    d.dispose()


@pytest.fixture
def services(tmp_path):
    """Start services with ``services.start(module, config, *args)``; all are stopped at the end."""
    started: list[ServiceProcess] = []

    class Starter:
        def __init__(self):
            self.started = started

        def start(self, module, config, *extra):
            sp = ServiceProcess(module, config, tmp_path, *extra).start()
            started.append(sp)
            return sp

    yield Starter()
    for sp in reversed(started):
        sp.kill()
