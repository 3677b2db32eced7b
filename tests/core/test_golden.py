"""Committed golden outputs: a change of format or result fails here until regenerated on purpose
with ``OMP_REGEN_GOLDEN=1 pytest tests/core/test_golden.py`` (and the diff explained in the commit)."""
import json
import os

import pytest

from helpers_core import FIXTURES, bank_for
from omp_core import backtest
from omp_core.genome import Condition, Genome, sma_crossover
from omp_core.run import run_campaign

GOLDEN = FIXTURES / "golden"
REGEN = os.environ.get("OMP_REGEN_GOLDEN") == "1"


def check(name: str, value) -> None:
    path = GOLDEN / name
    text = json.dumps(value, indent=1, sort_keys=True) + "\n"
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with OMP_REGEN_GOLDEN=1 once"
    assert json.loads(path.read_text()) == json.loads(text)


def sig(x: float) -> float:
    return float(f"{x:.10g}")


def test_golden_backtests(goog, us3):
    gens = [sma_crossover(10, 50), sma_crossover(20, 100, side=-1),
            Genome(1, (Condition("rsi_14", "<", 30.0),), (Condition("rsi_14", ">", 55.0),), 0.05, 0.1, 20)]
    out = {}
    for name, market in (("goog", goog), ("us3", us3)):
        bank = bank_for(market, gens)
        ev = backtest.evaluate(gens, market, bank, backtest.Costs(5.0, 5.0))
        out[name] = [{"genome_hash": g.genome_hash, "final_equity": sig(ev.equity[i, -1]),
                      "equity_sum": sig(ev.equity[i].sum()), "fills": int(ev.fills[i]),
                      "bars_in_market": int(ev.bars_in_market[i])} for i, g in enumerate(gens)]
    check("backtests.json", out)


@pytest.mark.filterwarnings("ignore")
def test_golden_run(tmp_path):
    r = run_campaign(FIXTURES / "campaigns" / "tiny.toml", tmp_path)
    c = r.candidates
    check("tiny_run.json", {
        "run_id": r.run_id, "snapshot_id": r.manifest["snapshot_id"], "config_hash": r.manifest["config_hash"],
        "n_trials": c["n_trials"], "pbo": sig(c["pbo"]["pbo"]),
        "candidates": [{"genome_hash": x["genome_hash"], "rule": x["rule"],
                        "is_sharpe": sig(x["in_sample"]["sharpe"]),
                        "oos_sharpe": sig(x["out_of_sample"]["sharpe"] or 0.0),
                        "oos_trades": x["out_of_sample"]["trades"]} for x in c["candidates"]],
        "manifest_keys": sorted(r.manifest), "candidate_keys": sorted(c["candidates"][0]),
    })
