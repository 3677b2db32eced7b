"""Fixtures shared by the core tests; the helpers live in helpers_core.py (a unique module name:
two files called conftest.py cannot both be imported by name)."""
import pytest

from helpers_core import goog_source, us_source
from omp_core import data


@pytest.fixture(scope="session")
def goog():
    return data.load_market([goog_source()], ["GOOG"], data.ValidationPolicy())


@pytest.fixture(scope="session")
def us3():
    return data.load_market([us_source()], ["AAPL", "KO", "XOM"], data.ValidationPolicy())
