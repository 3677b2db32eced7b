import tomllib
from pathlib import Path

import pytest

from helpers_services import ROOT
from omp_core.binding import ConfigError
from omp_services.common import settings as settings_mod
from omp_services.miner.settings import SECTIONS as MINER
from omp_services.promoter.settings import SECTIONS as PROMOTER
from omp_services.scheduler.settings import SECTIONS as SCHEDULER
from omp_services.watchdog.settings import SECTIONS as WATCHDOG

EXAMPLE = ROOT / "examples" / "omp.toml"
ALL = {**SCHEDULER, **MINER, **WATCHDOG, **PROMOTER}


def test_the_shipped_settings_file_names_every_key_with_its_default():
    loaded = settings_mod.load(EXAMPLE, sections=ALL)
    defaults = settings_mod.load(overrides={}, sections=ALL)
    assert loaded.services == defaults.services
    for section in ("resources", "security", "database", "environment"):
        assert getattr(loaded, section) == getattr(defaults, section), section
    assert loaded.configs_root == (ROOT / "examples" / "campaigns").resolve()
    assert loaded.database_url == f"sqlite:///{(ROOT / 'var' / 'omp.db').resolve()}"
    # and every key of every section is spelled out in it (a key added in code is added there too)
    raw = tomllib.loads(EXAMPLE.read_text())
    tables = {**ALL, "paths": settings_mod.Paths, "database": settings_mod.Database,
              "resources": settings_mod.Resources, "security": settings_mod.Security}
    assert set(raw) == set(tables) | {"environment"}
    for name, cls in tables.items():
        assert set(raw[name]) == set(cls.__dataclass_fields__), name


def test_playbook_thresholds_are_the_defaults():
    s = settings_mod.load(overrides={}, sections=ALL)
    assert (s.resources.max_cpu_util_pct, s.resources.min_mem_available_mb, s.resources.min_disk_free_gb) == (85, 400, 1.0)
    assert s.section("scheduler").max_concurrent_campaigns == 1 and s.section("scheduler").loop_interval_s == 30
    assert s.endpoint("scheduler").address == "127.0.0.1:50051" and s.endpoint("miner").address == "127.0.0.1:50052"
    assert s.endpoint("watchdog").address == "127.0.0.1:50054" and s.endpoint("watchdog").metrics_port == 9154
    assert s.endpoint("promoter").address == "127.0.0.1:50053" and s.endpoint("promoter").metrics_port == 9153
    p, r = s.section("promotion"), s.section("auto_reject")
    assert (p.min_oos_sharpe, p.max_pbo, p.min_dsr, p.max_drawdown, p.variance_floor) == (0.5, 0.20, 0.4, 0.30, 1e-6)
    assert (r.min_oos_sharpe, r.max_pbo, r.max_drawdown, r.min_oos_trades) == (0.2, 0.40, 0.50, 10)
    w = s.section("watchdog")
    assert (w.stuck_run_minutes, w.disk_warn_gb, w.disk_critical_gb, w.error_burst_count,
            w.error_burst_window_minutes, w.sample_interval_s) == (10, 2, 1, 3, 60, 10)
    assert (s.endpoint("scheduler").metrics_port, s.endpoint("miner").metrics_port) == (9151, 9152)


@pytest.mark.parametrize("overrides,key", [
    ({"scheduler": {"port": 70000}}, "scheduler.port"),
    ({"scheduler": {"loop_interval_s": 0}}, "scheduler.loop_interval_s"),
    ({"scheduler": {"repeat_cooldown_s": -1}}, "scheduler.repeat_cooldown_s"),
    ({"miner": {"threads": -1}}, "miner.threads"),
    ({"miner": {"id": "two words"}}, "miner.id"),
    ({"miner": {"slots": 2000}}, "miner.slots"),
    ({"miner": {"advertise_address": "10.0.0.2"}}, "miner.advertise_address"),
    ({"scheduler": {"id": "-lead"}}, "scheduler.id"),
    ({"scheduler": {"leader_lease_s": 0.5}}, "scheduler.leader_lease_s"),
    ({"scheduler": {"miner_seen_within_s": 0}}, "scheduler.miner_seen_within_s"),
    ({"watchdog": {"disk_warn_gb": 0.5}}, "watchdog.disk_warn_gb"),
    ({"resources": {"max_cpu_util_pct": 120}}, "resources.max_cpu_util_pct"),
    ({"environment": "production"}, "environment"),
    ({"database": {"url": "mysql://x"}}, "database.url"),
    ({"scheduler": {"prot": 1}}, "scheduler.prot"),
    ({"wachdog": {"stuck_run_minutes": 10}}, "wachdog"),        # a misspelt section is refused
    ({"security": {"allow_insecure_remote": "yes"}}, "security.allow_insecure_remote"),
    ({"security": {"token": "s3cret"}}, "security.token"),
])
def test_bad_values_are_refused_with_the_key(overrides, key):
    with pytest.raises(ConfigError) as err:
        settings_mod.load(overrides=overrides, sections=ALL)
    assert str(err.value).startswith(key)


def test_a_process_reads_only_the_address_of_a_section_it_does_not_own():
    """The miner's own keys are the miner's to check: the scheduler (and the omp command) read its
    address and leave the rest alone; the miner refuses what is wrong in it."""
    over = {"miner": {"port": 6000, "threads": -1, "no_such_key": 1}}
    s = settings_mod.load(overrides=over, sections=SCHEDULER)
    assert s.endpoint("miner").address == "127.0.0.1:6000"
    assert settings_mod.load(overrides=over).endpoint("miner").port == 6000
    with pytest.raises(ConfigError, match=r"^miner\.no_such_key: unknown key"):
        settings_mod.load(overrides=over, sections=MINER)
    with pytest.raises(ConfigError, match=r"^miner\.port"):        # but a bad address is everyone's business
        settings_mod.load(overrides={"miner": {"port": 70000}}, sections=SCHEDULER)


def test_missing_or_broken_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="file not found"):
        settings_mod.load(tmp_path / "nope.toml")
    bad = tmp_path / "omp.toml"
    bad.write_text("[scheduler\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        settings_mod.load(bad)


def test_a_section_another_process_owns_is_left_to_it_and_checked_by_it():
    s = settings_mod.load(overrides={"promotion": {"no_such_key": 0.2}, "auto_reject": {"no_such_key": 0.4},
                                     "retention": {"keep_runs": 5, "no_such_key": 1}},
                          sections=SCHEDULER)
    assert s.owned == {"scheduler"}                        # [retention] is the watchdog's to check, ...
    with pytest.raises(ConfigError, match=r"^retention\.no_such_key"):
        settings_mod.load(overrides={"retention": {"no_such_key": 1}}, sections=WATCHDOG)
    # ... [promotion] the promoter's
    with pytest.raises(ConfigError, match=r"^promotion\.no_such_key"):
        settings_mod.load(overrides={"promotion": {"no_such_key": 1}}, sections=PROMOTER)


def test_a_section_this_process_does_not_own_is_refused_clearly():
    s = settings_mod.load(overrides={}, sections=SCHEDULER)
    assert s.section("scheduler").loop_interval_s == 30
    with pytest.raises(LookupError, match=r"\[miner\] was not loaded for this process"):
        s.section("miner")
    assert s.endpoint("miner").port == 50052
