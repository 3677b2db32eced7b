import json

import pytest
from hypothesis import given, settings, strategies as st

from core.test_backtest import genomes
from omp_core.genome import Condition, Genome, load_toml, loads_toml, sma_crossover


@settings(max_examples=200, deadline=None)
@given(genomes())
def test_strategy_toml_round_trips_to_the_same_genome(g):
    back = loads_toml(g.to_toml())
    assert back == g
    assert back.genome_hash == g.genome_hash
    assert back.canonical_bytes() == g.canonical_bytes()


@settings(max_examples=300, deadline=None)
@given(genomes(), st.sampled_from([30, -0.0, 1e-7, 1e20, 123456.789]))
def test_the_written_out_json_is_the_json_module_s_bytes(g, odd):
    """canonical_bytes and dict_json write the JSON by hand for speed: byte for byte what the json
    module writes (the hash and the journals depend on it), for thresholds of every kind."""
    odd_one = Genome(g.side, g.entry + (Condition("rsi_14", ">", odd),), g.exit[:3], g.stop_loss, g.take_profit,
                     g.max_hold) if len(g.entry) < 4 else g
    for x in (g, odd_one):
        assert x.canonical_bytes() == json.dumps(x.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        assert x.dict_json() == json.dumps(x.to_dict(), separators=(",", ":"))


def test_condition_order_does_not_change_the_hash():
    a = Condition("rsi_14", "<", 30.0)
    b = Condition("sma_10", ">", 0.0, "sma_50")
    g1 = Genome(1, (a, b), (), 0.05)
    g2 = Genome(1, (b, a, a), (), 0.05)
    assert g1.genome_hash == g2.genome_hash and g1.canonical_bytes() == g2.canonical_bytes()
    assert Genome(-1, (a, b), (), 0.05).genome_hash != g1.genome_hash


def test_hash_is_pinned():
    """The canonical form is a format: changing it changes every HoF genome_hash."""
    g = sma_crossover(10, 50)
    assert g.canonical_bytes() == (
        b'{"entry":[{"feature":"sma_10","op":">","other":"sma_50","threshold":0.0}],"exit":[{"feature":'
        b'"sma_10","op":"<","other":"sma_50","threshold":0.0}],"format":"omp.genome/1","max_hold":0,'
        b'"side":"long","stop_loss":0.0,"take_profit":0.0}')
    assert g.describe() == "long when sma_10 > sma_50; exit when sma_10 < sma_50"


def test_tampered_toml_is_refused(tmp_path):
    p = tmp_path / "strategy.toml"
    p.write_text(sma_crossover(10, 50).to_toml().replace('"sma_50"', '"sma_60"', 1))
    with pytest.raises(ValueError, match="genome_hash .* does not match"):
        load_toml(p)


@pytest.mark.parametrize("kwargs,msg", [
    (dict(side=2, entry=(Condition("rsi_14", "<", 30.0),)), "genome.side"),
    (dict(side=1, entry=()), "genome.entry"),
    (dict(side=1, entry=(Condition("rsi_14", "<", 30.0),), stop_loss=1.5), "genome.stop_loss"),
    (dict(side=1, entry=(Condition("rsi_14", "<", 30.0),), max_hold=-1), "genome.max_hold"),
])
def test_bad_genomes_name_the_field(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        Genome(**kwargs)


def test_bad_conditions_name_the_problem():
    # a name is the whole string: "close\n" would put a raw newline into the canonical JSON
    with pytest.raises(ValueError, match="feature name must look like"):
        Condition("close\n", ">", 1.0)
    with pytest.raises(ValueError, match="condition.other must be a feature name or empty, got None"):
        Condition("close", ">", 1.0, None)
    with pytest.raises(ValueError, match="condition.op"):
        Condition("rsi_14", ">=", 30.0)
    with pytest.raises(ValueError, match="crossover compares level features"):
        Condition("rsi_14", ">", 0.0, "sma_10")
    with pytest.raises(ValueError, match="fast < slow"):
        sma_crossover(50, 10)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["rsi_14", "close", "sma_10", "zscore_20"]), st.sampled_from([">", "<"]),
                          st.sampled_from([0.0, -0.0, 0.5, -2.5, 30.0])), min_size=1, max_size=8), st.randoms())
def test_conditions_are_kept_as_a_set_in_condition_order(parts, rnd):
    """The canonical form is Condition's own (dataclass) order, duplicates dropped, whatever the
    order they come in: the sort key the genome uses must stay that order."""
    conds = [Condition(f, op, thr) for f, op, thr in parts]
    rnd.shuffle(conds)
    g = Genome(1, tuple(conds[:4]), tuple(conds[4:]))
    assert g.entry == tuple(sorted(set(conds[:4]))) and g.exit == tuple(sorted(set(conds[4:])))
    assert all(a < b for a, b in zip(g.entry, g.entry[1:]))
    # and of equal conditions (0.0 and -0.0) the first is kept, as a set keeps it: the bytes hashed
    for kept, given in ((g.entry, conds[:4]), (g.exit, conds[4:])):
        assert [c.as_json for c in kept] == [c.as_json for c in sorted(set(given))]
