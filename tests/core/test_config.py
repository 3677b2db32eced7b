from pathlib import Path

import pytest

from helpers_core import FIXTURES, ROOT
from omp_core import config
from omp_core.config import ConfigError
from omp_core.genome import MAX_CONDITIONS

TINY = FIXTURES / "campaigns" / "tiny.toml"


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "campaigns").glob("*.toml")) + [TINY],
                         ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    cfg = config.load(path)
    assert len(cfg.config_hash) == 64


def test_hash_is_stable_under_order_formatting_and_spelled_defaults():
    text = TINY.read_text()
    base = config.loads(text).config_hash
    reordered = text.replace("version = 1\nseeds = [7, 11]\n", "seeds = [ 7,11 ]  # same seeds\nversion=1\n")
    assert reordered != text
    assert config.loads(reordered).config_hash == base
    with_default = text.replace("[costs]", "") + "\n[costs]\nfee_bps = 5.0\n"
    assert config.loads(with_default).config_hash == base
    assert config.loads(text.replace("population = 16", "population = 17")).config_hash != base


@pytest.mark.parametrize("edit,path,value", [
    (("population = 16", "population = -3"), "ga.population", -3),
    (("population = 16", "populaton = 16"), "ga.populaton", None),
    (('timeframe = "1d"', 'timeframe = "2d"'), "mandate.timeframe", "2d"),
    (('market = "us"', 'market = "jp"'), "mandate.market", "jp"),
    (("seeds = [7, 11]", "seeds = [7, 7]"), "seeds", [7, 7]),
    (("sma = [10, 50]", "sma = [10, 1]"), "strategy.sma", [10, 1]),
    (('symbol_column = "Name"', 'symbol_column = "Name"\nsymbol = "KO"'), "data.sources[0]", None),
    (("holdout_fraction = 0.3", "holdout_fraction = 0.95"), "validation.holdout_fraction", 0.95),
    (("pbo_splits = 8", "pbo_splits = 7"), "validation.pbo_splits", 7),
    (("population = 16", 'population = "16"'), "ga.population", "16"),
])
def test_bad_values_name_the_key_path_and_value(edit, path, value):
    text = TINY.read_text().replace(*edit)
    with pytest.raises(ConfigError) as err:
        config.loads(text)
    assert err.value.path == path
    assert str(err.value).startswith(path)
    if value is not None:
        assert repr(value) in str(err.value)


def test_required_sections_and_toml_errors():
    with pytest.raises(ConfigError, match="campaign.name"):
        config.loads("")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.loads("[ga\n")
    with pytest.raises(ConfigError, match="file not found"):
        config.load(Path("/nonexistent/c.toml"))


def test_data_paths_are_kept_under_the_data_root(tmp_path):
    cfg = config.load(TINY)
    with pytest.raises(ConfigError, match="leaves the data root"):
        cfg.sources(tmp_path)
    assert cfg.sources(ROOT)[0].path == ROOT / "examples" / "data" / "us_stocks_2013_2018.csv"


@pytest.mark.parametrize("key,low", [("max_entry_conditions", 1), ("max_exit_conditions", 0)])
def test_condition_limits_come_from_the_genome(key, low):
    text = TINY.read_text()
    old = next(line for line in text.splitlines() if line.startswith(key))
    assert getattr(config.loads(text.replace(old, f"{key} = {MAX_CONDITIONS}")).strategy, key) == MAX_CONDITIONS
    with pytest.raises(ConfigError, match=rf"strategy\.{key}: must be in {low}\.\.{MAX_CONDITIONS}"):
        config.loads(text.replace(old, f"{key} = {MAX_CONDITIONS + 1}"))
