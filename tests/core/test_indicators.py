"""Every compiled indicator agrees with its plain NumPy twin on awkward inputs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from omp_core import _indicators, features
from omp_core.reference import indicators as ref


@st.composite
def series(draw):
    n = draw(st.integers(0, 60))
    vals = draw(st.lists(st.floats(1.0, 1000.0), min_size=n, max_size=n))
    x = np.asarray(vals, dtype=float)
    if n > 4 and draw(st.booleans()):           # a flat stretch
        a = draw(st.integers(0, n - 3))
        x[a: a + draw(st.integers(2, n - a))] = x[a]
    for i in draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=3)) if n else []:
        x[i] = np.nan                            # holes
    return x


WINDOWS = st.integers(2, 30)
CASES = [
    (features.sma, ref.sma), (features.ema, ref.ema), (features.rsi, ref.rsi), (features.roc, ref.roc),
    (features.zscore, ref.zscore), (features.bollinger_pctb, ref.bollinger_pctb),
]


@pytest.mark.parametrize("fast,slow", CASES, ids=[c[0].__name__ for c in CASES])
@settings(max_examples=150, deadline=None)
@given(x=series(), w=WINDOWS)
def test_compiled_matches_reference(fast, slow, x, w):
    keep = x.copy()
    np.testing.assert_allclose(fast(x, w), slow(x, w), rtol=1e-9, atol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(x, keep)      # inputs are never mutated


@settings(max_examples=150, deadline=None)
@given(x=series(), w=WINDOWS, data=st.data())
def test_atr_matches_reference(x, w, data):
    spread = np.asarray(data.draw(st.lists(st.floats(0.0, 0.05), min_size=x.size, max_size=x.size)))
    hi, lo = x * (1 + spread), x * (1 - spread)
    np.testing.assert_allclose(features.atr_pct(hi, lo, x, w), ref.atr_pct(hi, lo, x, w),
                               rtol=1e-9, atol=1e-12, equal_nan=True)


def test_series_shorter_than_window_is_all_nan():
    x = np.array([1.0, 2.0, 3.0])
    for f in (features.sma, features.ema, features.rsi, features.roc, features.zscore):
        assert np.isnan(f(x, 5)).all(), f.__name__


def test_flat_stretch_has_no_spread_based_value():
    x = np.r_[np.linspace(1, 2, 10), np.full(30, 2.0)]
    z = features.zscore(x, 10)
    assert np.isnan(z[-5:]).all()
    assert features.rsi(np.full(30, 5.0), 14)[-1] == 50.0


def test_real_data_agrees(goog):
    c, h, l = goog.close[0], goog.high[0], goog.low[0]
    for w in (5, 20, 200):
        np.testing.assert_allclose(features.sma(c, w), ref.sma(c, w), rtol=1e-10, equal_nan=True)
        np.testing.assert_allclose(features.rsi(c, w), ref.rsi(c, w), rtol=1e-10, equal_nan=True)
        np.testing.assert_allclose(features.atr_pct(h, l, c, w), ref.atr_pct(h, l, c, w), rtol=1e-10,
                                   equal_nan=True)


def test_compiled_modules_are_extension_modules():
    """No silent pure-Python fallback: the kernels must be the Cython build."""
    from importlib.machinery import EXTENSION_SUFFIXES

    from omp_core import _backtest, _draws
    for mod in (_indicators, _backtest, _draws):
        assert any(mod.__file__.endswith(s) for s in EXTENSION_SUFFIXES), mod.__file__


def test_bad_feature_names_are_refused():
    with pytest.raises(ValueError, match="unknown feature kind 'foo'"):
        features.parse_name("foo_3")
    with pytest.raises(ValueError, match="window must be >= 2"):
        features.parse_name("sma_1")
