"""deploy/: the systemd units as systemd itself reads them (systemd-analyze verify prints nothing,
systemd-analyze security rates each at most 2.0), and the production settings file loads with its
secrets from systemd's credentials."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"
SERVICES = ("scheduler", "miner", "promoter", "watchdog")


def _analyze() -> str:
    exe = shutil.which("systemd-analyze")
    assert exe, "systemd-analyze is needed (Debian's systemd package; .ci/run installs it)"
    return exe


def test_the_units_verify_clean(tmp_path):
    """As installed, with the venv where the units say (its bin/ under this test's venv)."""
    venv_bin = Path(sys.executable).parent
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/opt/omp/venv/bin/", f"{venv_bin}/")
        (tmp_path / unit.name).write_text(text)
    r = subprocess.run([_analyze(), "verify", *sorted(str(p) for p in tmp_path.iterdir())], capture_output=True,
                       text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr


@pytest.mark.parametrize("unit", [f"omp-{s}.service" for s in SERVICES]
                         + ["omp-migrate.service", "omp-health.service", "omp-restart.service"])
def test_each_unit_is_hardened_to_an_exposure_of_at_most_2(unit):
    r = subprocess.run([_analyze(), "security", "--offline=yes", str(UNITS / unit)], capture_output=True,
                       text=True, timeout=120)
    score = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout).group(1))
    assert score <= 2.0, r.stdout[-2000:]


def test_each_service_unit_speaks_notify_and_is_restarted_when_it_hangs():
    for s in SERVICES:
        text = (UNITS / f"omp-{s}.service").read_text()
        for line in ("Type=notify", "WatchdogSec=60", "Restart=on-failure", "User=omp", "StateDirectory=omp",
                     "KillMode=mixed",
                     "Requires=omp-migrate.service", "PartOf=omp.target",
                     f"ExecStart=/opt/omp/venv/bin/omp-{s} --config /etc/omp/omp.toml"):
            assert line in text.splitlines(), (s, line)
        assert "After=omp-migrate.service" in text and "Environment=" not in text     # secrets: credentials only
        assert "LoadCredential=database-url:/etc/omp/credentials/database-url" in text
    assert all(f"omp-{s}.service" in (UNITS / "omp.target").read_text() for s in SERVICES)
    # playbook rule 9: a timer checks health every minute; three bad checks in a row restart the target
    assert "omp-health.timer" in (UNITS / "omp.target").read_text()
    health = (UNITS / "omp-health.service").read_text()
    assert "OnFailure=omp-restart.service" in health and "--restart-after 3" in health
    assert "SuccessExitStatus=1 2 3 4 5" in health
    assert "StartLimitBurst=3" in (UNITS / "omp-restart.service").read_text()
    assert "ExecStart=/usr/bin/systemctl restart omp.target" in (UNITS / "omp-restart.service").read_text()


def test_omp_health_for_a_timer_exits_75_once_it_stayed_unhealthy_then_counts_again(tmp_path):
    failures = tmp_path / "health-failures"
    dead = ["--scheduler", "127.0.0.1:1", "--miner", "127.0.0.1:1", "--watchdog", "127.0.0.1:1", "--promoter",
            "127.0.0.1:1", "--timeout", "1"]

    def check():
        return subprocess.run([sys.executable, "-m", "omp_cli", "health", "--json", "--restart-after", "2",
                               "--failures-file", str(failures), *dead], capture_output=True, text=True, cwd=ROOT,
                              timeout=120).returncode
    assert [check(), check(), check()] == [1, 75, 1]
    assert failures.read_text().strip() == "1"


def test_the_production_settings_read_their_secrets_from_credentials(tmp_path, monkeypatch):
    from omp_services.common import certificates, security, settings
    creds = tmp_path / "credentials"
    pki = tmp_path / "pki"
    certificates.init(pki)
    creds.mkdir(mode=0o700)
    for name, src in (("tls.crt", "scheduler.crt"), ("tls.key", "scheduler.key"), ("token", "scheduler.token"),
                      ("tokens.toml", "tokens.toml")):
        (creds / name).write_bytes((pki / src).read_bytes())
        (creds / name).chmod(0o600)
    (creds / "database-url").write_text("postgresql+psycopg://omp:pa55w0rd@127.0.0.1:5432/omp\n")
    text = (ROOT / "deploy" / "omp.toml").read_text().replace("/etc/omp/ca.crt", str(pki / "ca.crt"))
    (tmp_path / "omp.toml").write_text(text)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(ValueError, match=r"^security\.tls_cert: names \{credentials\}"):
        security.load(settings.load(tmp_path / "omp.toml"), "scheduler", "127.0.0.1")
    # the omp command on that host has no credentials folder, and needs none: TLS to the services
    # with the public CA, its own token from $OMP_TOKEN_FILE
    operator = security.for_command(settings.load(tmp_path / "omp.toml"),
                                    env={"OMP_TOKEN_FILE": str(pki / "admin.token")})
    assert operator.tls and operator.own_token == (pki / "admin.token").read_text().strip()
    assert settings.load(tmp_path / "omp.toml").hof_dir == Path("/var/lib/omp/artifacts/hall_of_fame")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    loaded = settings.load(tmp_path / "omp.toml")
    assert loaded.database_url == "postgresql+psycopg://omp:pa55w0rd@127.0.0.1:5432/omp"
    sec = security.load(loaded, "scheduler", "127.0.0.1")
    assert sec.tls and sec.authentication and sec.tokens[security.token_hash(sec.own_token)].name == "scheduler"
    (creds / "database-url").unlink()
    with pytest.raises(ValueError, match=r"^database\.url_file: cannot read"):
        settings.load(tmp_path / "omp.toml").database_url


def test_omp_migrate_brings_a_database_to_the_newest_schema_and_names_a_bad_setting(tmp_path):
    import sqlite3
    config = tmp_path / "omp.toml"
    config.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n')
    r = subprocess.run([sys.executable, "-m", "omp_services.migrations", "--config", str(config)], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(tmp_path / "var" / "omp.db") as con:
        tables = {t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert {"campaigns", "runs", "audit_log", "hof_entries", "incidents"} <= tables
    heads = sorted(p.name.split("_")[0] for p in (ROOT / "services" / "migrations" / "versions").glob("0*.py"))
    assert version == heads[-1]
    config.write_text('[database]\nurl = "mysql://nope"\n')
    r = subprocess.run([sys.executable, "-m", "omp_services.migrations", "--config", str(config)], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "database.url" in r.stderr


def test_every_package_of_the_tree_is_in_the_wheel_under_an_omp_name():
    """pyproject.toml lists the packages (services/ installs as omp_services): a new package
    folder missing from the list would be missing from the installed wheel."""
    import tomllib
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {"omp_services": "services"} | {k: v for k, v in cfg["package-dir"].items()}
    listed = set(cfg["packages"])
    found = set()
    for top in ("omp", "omp_core", "omp_cli", "omp_services"):
        base = ROOT / folders.get(top, top)
        for init in base.rglob("__init__.py"):
            found.add(".".join((top, *init.parent.relative_to(base).parts)))
    assert found == listed, (sorted(found - listed), sorted(listed - found))
    assert all(name.split(".")[0].startswith("omp") for name in listed)
