from pathlib import Path

import pytest

from helpers_services import ROOT
from omp_core.config import ConfigError
from services.common import settings as settings_mod

EXAMPLE = ROOT / "examples" / "omp.toml"


def test_the_shipped_settings_file_names_every_key_with_its_default():
    loaded = settings_mod.load(EXAMPLE)
    defaults = settings_mod.load(overrides={})
    for section in ("scheduler", "miner", "resources", "watchdog", "promotion", "auto_reject", "retention",
                    "security", "database"):
        assert getattr(loaded, section) == getattr(defaults, section), section
    assert loaded.configs_root == (ROOT / "examples" / "campaigns").resolve()
    assert loaded.database_url == f"sqlite:///{(ROOT / 'var' / 'omp.db').resolve()}"


def test_playbook_thresholds_are_the_defaults():
    s = settings_mod.load(overrides={})
    assert (s.resources.max_cpu_util_pct, s.resources.min_mem_available_mb, s.resources.min_disk_free_gb) == (85, 400, 1.0)
    assert s.scheduler.max_concurrent_campaigns == 1 and s.scheduler.loop_interval_s == 30
    assert (s.promotion.min_oos_sharpe_net, s.promotion.max_pbo, s.promotion.min_dsr,
            s.promotion.max_drawdown_net) == (0.5, 0.2, 0.4, 0.3)
    assert s.watchdog.stuck_run_minutes == 10 and s.retention.keep_runs == 5


@pytest.mark.parametrize("overrides,key", [
    ({"scheduler": {"port": 70000}}, "scheduler.port"),
    ({"scheduler": {"loop_interval_s": 0}}, "scheduler.loop_interval_s"),
    ({"scheduler": {"repeat_cooldown_s": -1}}, "scheduler.repeat_cooldown_s"),
    ({"resources": {"max_cpu_util_pct": 120}}, "resources.max_cpu_util_pct"),
    ({"environment": "production"}, "environment"),
    ({"database": {"url": "mysql://x"}}, "database.url"),
    ({"scheduler": {"prot": 1}}, "scheduler.prot"),
    ({"security": {"tls_cert": "a.pem"}}, "security"),
])
def test_bad_values_are_refused_with_the_key(overrides, key):
    with pytest.raises(ConfigError) as err:
        settings_mod.load(overrides=overrides)
    assert str(err.value).startswith(key)


def test_missing_or_broken_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="file not found"):
        settings_mod.load(tmp_path / "nope.toml")
    bad = tmp_path / "omp.toml"
    bad.write_text("[scheduler\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        settings_mod.load(bad)
