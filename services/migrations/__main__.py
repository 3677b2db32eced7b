"""``omp-migrate``: bring the database the settings name to the newest schema, then exit (0 done,
2 a bad setting or a database that cannot be reached). deploy/systemd/omp-migrate.service runs it
before the services start, so an upgrade migrates once, before anything serves."""
from __future__ import annotations

import argparse
import sys

from omp_services.common import logs, settings as settings_mod
from omp_services.common.version import VersionAction
from omp_services.common.settings import redact_url
from omp_services.common.storage.db import Database
from omp_services.migrations import migrate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="omp-migrate", description="migrate OMP's database to the newest schema",
                                 allow_abbrev=False)
    ap.add_argument("--version", action=VersionAction)
    ap.add_argument("--config", help="omp.toml (default: $OMP_CONFIG or built-in defaults)")
    args = ap.parse_args(argv)
    log = logs.setup("omp.migrate")
    try:
        settings = settings_mod.load(args.config)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.database_url, settings.database.pool_size)
        try:
            migrate(db)
        finally:
            db.dispose()
    except (ValueError, OSError) as exc:
        log.error(str(exc))
        print(f"omp-migrate: {exc}", file=sys.stderr)
        return 2
    log.info("database at the newest schema", extra={"database": redact_url(settings.database_url)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
