"""The genetic operators and the search give, bit for bit, what the Python search gave before they
were compiled (commit 8fd2003): ``tests/fixtures/golden/breeding.json`` holds the hashes of what
that code drew, mutated, crossed and searched, for strategy spaces and GA settings at the edges of
what a config allows. Regenerate it only for a change meant to change the search's numbers (and
raise ``ga.SCORES_VERSION`` or say why not): ``python tests/core/test_breeding_golden.py``."""
import dataclasses
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from omp_core import _draws, backtest, config, data, ga
from omp_core.evaluator import LocalEvaluator, Scoring, Snapshot
from omp_core.features import FeatureBank

HERE = Path(__file__).resolve().parent
TINY = HERE.parent / "fixtures" / "campaigns" / "tiny.toml"
GOLDEN = HERE.parent / "fixtures" / "golden" / "breeding.json"

FEATURES = dict(sma=(10, 20, 50), ema=(20,), rsi=(14,), atr=(14,), zscore=(20,), roc=(10,), bbp=(20,), volz=(20,))
NO_OSCILLATORS = dict(rsi=(), atr=(), zscore=(), roc=(), bbp=(), volz=())
SPACES = {
    "as configured": {},
    "fixed stop, no take, fixed hold": dict(stop_loss=(0.05, 0.05), take_profit=(0.0, 0.0), max_hold=(7, 7)),
    "none of them": dict(stop_loss=(0.0, 0.0), take_profit=(0.0, 0.0), max_hold=(0, 0)),
    "widest": dict(max_hold=(0, 1), stop_loss=(0.0, 0.99), take_profit=(0.0, 10.0)),
    "long holds": dict(max_hold=(1, 100000)),
    "short, one entry, no exit": dict(sides=("short",), max_exit_conditions=0, max_entry_conditions=1),
    "long, four and four": dict(sides=("long",), max_exit_conditions=4, max_entry_conditions=4),
    "never a crossover": dict(crossover_probability=0.0),
    "always a crossover": dict(crossover_probability=1.0),
    "one level feature": dict(sma=(), ema=()),
    "crossovers only": dict(NO_OSCILLATORS),
    "two level features": dict(NO_OSCILLATORS, sma=(10,), ema=()),
}
SEARCHES = {
    "as configured": {},
    "tournament of 70": dict(population=100, tournament_size=70, elitism=3),
    "tournament of 64": dict(population=64, tournament_size=64),
    "tournament of 65": dict(population=65, tournament_size=65),
    "immigrants only": dict(immigrant_rate=1.0),
    "copies only": dict(crossover_rate=0.0, mutation_rate=0.0, immigrant_rate=0.0),
    "always crossed and mutated": dict(crossover_rate=1.0, mutation_rate=1.0, immigrant_rate=0.0),
    "four, no elite": dict(tournament_size=2, population=4, elitism=0),
}


def record() -> dict:
    cfg = config.load(TINY)
    market = data.load_market(cfg.sources(), cfg.mandate.universe, cfg.data.validation.policy())
    bank = FeatureBank.build(market, config.Strategy(**FEATURES).feature_names())
    split = int(round(market.n_bars * 0.7))
    out = {}
    for name, change in SPACES.items():
        space = ga.SearchSpace(dataclasses.replace(cfg.strategy, **{**FEATURES, **change}), bank, split)
        made = []
        for seed in range(100):
            rng = _draws.Stream((seed, 3))
            g, h = space.genome(rng), space.genome(rng)
            m = g
            for _ in range(6):
                m = space.mutate(m, rng)
            x = space.crossover(g, m, rng)
            y = space.crossover(h, x, rng)
            made.append([b.canonical_bytes().decode() for b in (g, h, m, x, y)]
                        + [space.condition(rng).as_json, rng.random(), rng.integers(1 << 30)])
        out[f"operators: {name}"] = hashlib.sha256(json.dumps(made).encode()).hexdigest()
    for name in ("as configured", "short, one entry, no exit", "crossovers only", "none of them", "one level feature"):
        space = ga.SearchSpace(dataclasses.replace(cfg.strategy, **{**FEATURES, **SPACES[name]}), bank, split)
        for gname, gchange in SEARCHES.items():
            gcfg = dataclasses.replace(cfg.ga, generations=4, **gchange)
            evaluator = LocalEvaluator(1)
            evaluator.register("in-sample", Snapshot(market, bank, backtest.Costs(), 0, split,
                                                     Scoring(gcfg, "sharpe", 252.0, 0.5)))
            with tempfile.TemporaryDirectory() as tmp:
                search = ga.GeneticSearch(space, gcfg, 3, evaluator, "in-sample",
                                          ga.EvaluationCache(market.snapshot_id, "config"), Path(tmp) / "seed_3.json")
                search.run()
                out[f"search: {name}, {gname}"] = hashlib.sha256(
                    search.journal.read_bytes() + search.checkpoint.read_bytes()).hexdigest()
    return out


def test_the_search_draws_what_the_python_search_drew():
    want = json.loads(GOLDEN.read_text())
    got = record()
    assert sorted(got) == sorted(want)
    assert [k for k in want if got[k] != want[k]] == []


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}", file=sys.stderr)
