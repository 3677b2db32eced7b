"""Loading every shipped format through a declared column mapping, and validation that fails closed."""
import numpy as np
import pytest

from helpers_core import DATA, goog_source, us_source
from omp_core import data
from omp_core.data import ColumnMap, DataValidationError, Source, ValidationPolicy

MT5 = ColumnMap(timestamp="time", timestamp_unit="s", volume="real_volume", symbol="symbol")
YAHOO = ColumnMap(timestamp="Date", open="Open", high="High", low="Low", close="Close", volume="Volume")
BINANCE = ColumnMap(timestamp="open_time", timestamp_unit="ms")
EURUSD = ColumnMap(timestamp="", open="Open", high="High", low="Low", close="Close", volume="Volume")


def test_single_symbol_file_with_unnamed_index(goog):
    assert goog.symbols == ("GOOG",)
    assert goog.n_bars == 2148
    assert str(goog.timestamps[0])[:10] == "2004-08-19"
    assert goog.close[0, 0] == 100.34
    assert 240 < goog.periods_per_year < 260
    assert goog.close.flags.c_contiguous


def test_metatrader5_export_epoch_seconds():
    m = data.load_market([Source(DATA / "b3_winn_daily.csv", MT5)], ["WIN$N"], ValidationPolicy())
    assert m.n_bars == 1246 and str(m.timestamps[0]) == "2020-10-13T00:00:00"
    assert m.volume[0, 0] == 14624362


def test_binance_klines_epoch_milliseconds():
    m = data.load_market([Source(DATA / "filusdt_1m_3days.csv", BINANCE, symbol="FILUSDT")], ["FILUSDT"],
                         ValidationPolicy())
    assert m.n_bars == 4320
    assert np.all(np.diff(m.timestamps.astype(np.int64)) == 60)
    assert m.periods_per_year == pytest.approx(525_960, rel=1e-3)


def test_yahoo_null_rows_fail_closed_unless_dropped():
    src = Source(DATA / "bvsp_daily.csv", YAHOO, symbol="BVSP")
    with pytest.raises(DataValidationError) as err:
        data.load_market([src], ["BVSP"], ValidationPolicy())
    assert len(err.value.problems) == 16
    assert all(p.kind == "null_row" for p in err.value.problems)
    assert "null_row" in str(err.value) and "line " in str(err.value)
    m = data.load_market([src], ["BVSP"], ValidationPolicy(actions={"null_row": "drop"}))
    assert m.n_bars == 3228 - 16
    assert len(m.report["actions"]) == 16 and m.report["actions"][0]["action"] == "drop"


def test_hourly_fx_with_weekend_gaps():
    m = data.load_market([Source(DATA / "eurusd_hourly.csv", EURUSD, symbol="EURUSD")], ["EURUSD"],
                         ValidationPolicy())
    gaps = np.diff(m.timestamps.astype(np.int64))
    assert m.n_bars == 5000 and np.median(gaps) == 3600 and gaps.max() > 2 * 86400


def test_long_file_flaws_are_listed_with_their_lines():
    with pytest.raises(DataValidationError) as err:
        data.load_market([us_source()], ["DHR", "NI", "LNT"], ValidationPolicy(max_abs_return=0.4))
    found = {(p.symbol, p.kind, p.timestamp[:10]) for p in err.value.problems}
    assert ("DHR", "nan_price", "2015-07-17") in found        # missing open
    assert ("DHR", "null_row", "2016-01-12") not in found    # close present: not a null row
    assert ("DHR", "nan_price", "2016-01-12") in found
    assert ("NI", "jump", "2015-07-02") in found             # unadjusted split
    assert ("LNT", "ohlc_inconsistent", "2016-05-19") in found  # bad tick below the low
    lines = {p.line for p in err.value.problems}
    assert all(line >= 2 for line in lines)


def test_repair_drop_and_drop_symbol_are_recorded():
    policy = ValidationPolicy(max_abs_return=0.4, actions={
        "nan_price": "repair", "ohlc_inconsistent": "drop", "jump": "drop_symbol"})
    m = data.load_market([us_source()], ["DHR", "NI", "LNT", "KO"], policy)
    assert m.symbols == ("DHR", "LNT", "KO")
    assert m.report["dropped_symbols"] == ["NI"]
    kinds = {(a["symbol"], a["kind"], a["action"]) for a in m.report["actions"]}
    assert ("DHR", "nan_price", "repair") in kinds and ("LNT", "ohlc_inconsistent", "drop") in kinds
    # the DHR hole of March 2015 is removed from every symbol by the common calendar
    assert m.n_bars < 1259 and m.report["bars_before_alignment"]["KO"] == 1259


def test_a_level_shift_cannot_be_dropped_away():
    with pytest.raises(DataValidationError, match="level shift"):
        data.load_market([us_source()], ["NI"], ValidationPolicy(max_abs_return=0.4, actions={"jump": "drop"}))


def test_isolated_spike_is_dropped(tmp_path):
    rows = ["date,open,high,low,close,volume"] + [
        f"2020-01-{d:02d},10,11,9,{c},100" for d, c in zip(range(1, 8), [10, 10.2, 10.1, 30, 10.3, 10.2, 10.4])]
    p = tmp_path / "spike.csv"
    p.write_text("\n".join(rows).replace(",30,", ",30,").replace("11,9,30", "31,9,30") + "\n")
    src = Source(p, ColumnMap(timestamp="date"), symbol="X")
    m = data.load_market([src], ["X"], ValidationPolicy(actions={"jump": "drop"}), min_bars=5)
    assert m.n_bars == 6 and 30.0 not in m.close


def test_time_order_problems(tmp_path):
    rows = ["date,open,high,low,close",
            "2020-01-01,1,1,1,1", "2020-01-02,1,1,1,1", "2020-01-02,1,1,1,1", "2020-01-01,1,1,1,1",
            "2020-01-03,1,1,1,0"]
    p = tmp_path / "x.csv"
    p.write_text("\n".join(rows) + "\n")
    src = Source(p, ColumnMap(timestamp="date", volume=None), symbol="X")
    with pytest.raises(DataValidationError) as err:
        data.load_market([src], ["X"], ValidationPolicy(), min_bars=2)
    assert [(p.kind, p.line) for p in err.value.problems] == [
        ("non_positive_price", 6), ("duplicate_timestamp", 4), ("duplicate_timestamp", 5)]


def test_snapshot_id_is_a_content_hash(tmp_path):
    a = data.load_market([goog_source()], ["GOOG"], ValidationPolicy())
    text = (DATA / "goog_daily.csv").read_text()
    p = tmp_path / "g.csv"
    p.write_text(text.replace("\n", "\r\n"))        # same data, other formatting
    b = data.load_market([Source(p, goog_source().columns, symbol="GOOG")], ["GOOG"], ValidationPolicy())
    assert a.snapshot_id == b.snapshot_id
    p.write_text(text.replace("108.31", "108.32", 1))
    c = data.load_market([Source(p, goog_source().columns, symbol="GOOG")], ["GOOG"], ValidationPolicy())
    assert c.snapshot_id != a.snapshot_id


def test_missing_column_and_symbol_are_named():
    with pytest.raises(ValueError, match="column 'Adj' for close"):
        data.load_market([Source(DATA / "goog_daily.csv", ColumnMap(
            open="Open", high="High", low="Low", close="Adj", volume="Volume"), symbol="G")], ["G"],
                         ValidationPolicy())
    with pytest.raises(ValueError, match=r"mandate.universe names symbols not found.*\['ZZZ'\]"):
        data.load_market([us_source()], ["KO", "ZZZ"], ValidationPolicy())


def test_parquet_through_the_same_mapping(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="pyarrow is in the test extras; CI installs it")
    import pyarrow.parquet as pq
    m = data.load_market([goog_source()], ["GOOG"], ValidationPolicy())
    table = pa.table({"when": m.timestamps.astype("datetime64[s]"), "o": m.open[0], "h": m.high[0],
                      "l": m.low[0], "c": m.close[0], "v": m.volume[0]})
    path = tmp_path / "goog.parquet"
    pq.write_table(table, path)
    cm = ColumnMap(timestamp="when", open="o", high="h", low="l", close="c", volume="v")
    p = data.load_market([Source(path, cm, symbol="GOOG")], ["GOOG"], ValidationPolicy())
    assert p.snapshot_id == m.snapshot_id
