# cython: language_level=3
"""A genome compiled: its checking constructors, the rounding of its numbers, canonical
condition sets, the canonical JSON that ``genome_hash`` is the SHA-256 of, the JSON of
``Genome.to_dict`` and a line of the search's journal (``omp_core/genome.py`` and
``omp_core/ga.py`` say what each is).

The search makes these for every child it breeds: written in Python they were a third of a
campaign's Python, and all of it holds the GIL that seeds searched side by side share. The text
is the ``json`` module's, byte for byte (``tests/core/test_genome.py`` holds them equal): a
finite float is its ``repr`` (CPython's own shortest round-trip formatting, called here without
the Python around it), an integer its decimal digits, anything else what ``json.dumps`` writes.

What is made once for an object is kept in its ``__dict__`` under the name of the attribute that
reads it (``as_json``, ``genome_hash``, and ``_json`` for a genome's parts): a condition or a
genome is frozen, so what it hashes to never changes.
"""
import functools
import hashlib
import json

from omp_core import features

from cpython.conversion cimport Py_DTSF_ADD_DOT_0, PyOS_double_to_string, PyOS_string_to_double
from cpython.mem cimport PyMem_Free
from libc.math cimport isfinite

FORMAT = "omp.genome/1"
OPS = (">", "<")
MAX_CONDITIONS = 4
_sha256 = hashlib.sha256
_dumps = json.dumps


@functools.lru_cache(maxsize=4096)
def _check_names(feature, op, other) -> None:
    """A condition's feature names and comparator, checked once for each (a campaign has few)."""
    if not isinstance(other, str):
        raise ValueError(f"condition.other must be a feature name or empty, got {other!r}")
    features.parse_name(feature)
    if op not in OPS:
        raise ValueError(f"condition.op must be one of {OPS}, got {op!r}")
    if other:
        features.parse_name(other)
        if not (features.is_level(feature) and features.is_level(other)):
            raise ValueError(f"a crossover compares level features (close, sma, ema), got "
                             f"{feature!r} and {other!r}")


def condition_init(self, feature, op, threshold, other=""):
    """``Condition.__init__``: checks, then stores straight into the instance's ``__dict__`` (a
    frozen dataclass's own would go through ``object.__setattr__`` per field)."""
    _check_names(feature, op, other)
    if not isfinite(threshold):
        raise ValueError(f"condition.threshold must be finite, got {threshold!r}")
    cdef dict d = self.__dict__
    d["feature"] = feature
    d["op"] = op
    d["threshold"] = threshold
    d["other"] = other


def genome_init(self, side, entry, exit=(), stop_loss=0.0, take_profit=0.0, max_hold=0):
    """``Genome.__init__``: checks, then stores; condition sets are kept canonical (sorted,
    duplicate-free; one condition, or none, is canonical already)."""
    if side != 1 and side != -1:
        raise ValueError(f"genome.side must be 1 (long) or -1 (short), got {side!r}")
    if not 1 <= len(entry) <= MAX_CONDITIONS:
        raise ValueError(f"genome.entry must hold 1..{MAX_CONDITIONS} conditions, got {len(entry)}")
    if len(exit) > MAX_CONDITIONS:
        raise ValueError(f"genome.exit must hold at most {MAX_CONDITIONS} conditions, got {len(exit)}")
    # chained comparisons: false for a NaN, and the bounds keep out the infinities
    if not 0.0 <= stop_loss < 1.0:
        raise ValueError(f"genome.stop_loss must be a fraction in [0, 1), got {stop_loss!r}")
    if not 0.0 <= take_profit < float("inf"):
        raise ValueError(f"genome.take_profit must be a fraction >= 0, got {take_profit!r}")
    if not isinstance(max_hold, int) or max_hold < 0:
        raise ValueError(f"genome.max_hold must be an integer >= 0, got {max_hold!r}")
    cdef dict d = self.__dict__
    d["side"] = side
    d["entry"] = entry if type(entry) is tuple and len(entry) < 2 else canonical_conditions(entry)
    d["exit"] = exit if type(exit) is tuple and len(exit) < 2 else canonical_conditions(exit)
    d["stop_loss"] = stop_loss
    d["take_profit"] = take_profit
    d["max_hold"] = max_hold


cdef str _float_repr(double x):
    cdef char* s = PyOS_double_to_string(x, b"r", 0, Py_DTSF_ADD_DOT_0, NULL)
    try:
        return s.decode("ascii")
    finally:
        PyMem_Free(s)


cpdef double quantize(double x, int digits=6) except? -1.0:
    """Round to ``digits`` significant digits so a genome prints and hashes the same everywhere:
    ``float(f"{x:.{digits}g}")``, through the same CPython functions without the Python."""
    cdef char* s
    if digits < 0:
        raise ValueError(f"quantize needs digits >= 0, got {digits}")
    if x == 0.0 or not isfinite(x):
        return 0.0 if x == 0.0 else x
    s = PyOS_double_to_string(x, b"g", digits, 0, NULL)
    try:
        return PyOS_string_to_double(s, NULL, NULL)
    finally:
        PyMem_Free(s)


cpdef str json_number(x):
    """What ``json.dumps`` writes for one number."""
    if type(x) is float and isfinite(<double>x):
        return _float_repr(<double>x)
    if type(x) is int:
        return int.__repr__(x)
    return _dumps(x)


cpdef str condition_json(c):
    """A condition as compact JSON, keys sorted."""
    cdef dict d = c.__dict__
    cdef str text = d.get("as_json")
    if text is None:
        # the names passed parse_name and the op is one of OPS: nothing in them needs escaping
        text = (f'{{"feature":"{d["feature"]}","op":"{d["op"]}","other":"{d["other"]}",'
                f'"threshold":{json_number(d["threshold"])}}}')
        d["as_json"] = text
    return text


cdef tuple _parts(g):
    """The JSON of a genome's entry and exit conditions, stop, take and holding limit."""
    cdef dict d = g.__dict__
    cdef tuple parts = d.get("_json")
    if parts is None:
        parts = (",".join([condition_json(c) for c in d["entry"]]),
                 ",".join([condition_json(c) for c in d["exit"]]),
                 json_number(d["stop_loss"]), json_number(d["take_profit"]), json_number(d["max_hold"]))
        d["_json"] = parts
    return parts


cdef inline str _side_name(g):
    return "long" if g.__dict__["side"] == 1 else "short"


cpdef bytes canonical_bytes(g):
    """Compact JSON of ``g.to_dict()`` with sorted keys: what ``genome_hash`` is taken of."""
    cdef tuple p = _parts(g)
    return (f'{{"entry":[{p[0]}],"exit":[{p[1]}],"format":"{FORMAT}","max_hold":{p[4]},'
            f'"side":"{_side_name(g)}","stop_loss":{p[2]},"take_profit":{p[3]}}}').encode()


cpdef str genome_hash(g):
    """The SHA-256 of the canonical bytes, in hex."""
    cdef dict d = g.__dict__
    cdef str h = d.get("genome_hash")
    if h is None:
        h = _sha256(canonical_bytes(g)).hexdigest()
        d["genome_hash"] = h
    return h


cpdef str dict_json(g):
    """``json.dumps(g.to_dict(), separators=(",", ":"))``: keys in ``to_dict``'s order."""
    cdef tuple p = _parts(g)
    return (f'{{"format":"{FORMAT}","side":"{_side_name(g)}","entry":[{p[0]}],"exit":[{p[1]}],'
            f'"stop_loss":{p[2]},"take_profit":{p[3]},"max_hold":{p[4]}}}')


cpdef bytes journal_line(str genome_hash, str genome_json, metrics):
    """One line of the search's journal: ``[genome_hash, genome, metrics]`` as compact JSON, from
    the hash, the genome's ``dict_json`` and the metrics (as floats)."""
    numbers = ",".join([json_number(float(m)) for m in metrics])
    return f'["{genome_hash}",{genome_json},[{numbers}]]\n'.encode()


cdef inline tuple _key(c):
    cdef dict d = c.__dict__
    return (d["feature"], d["op"], d["threshold"], d["other"])


cpdef tuple canonical_conditions(conditions):
    """A set of conditions in Condition's order (its fields in turn), duplicates dropped, the
    first of equal ones kept: ``sorted(set(conditions))``, without hashing."""
    cdef list items = list(conditions)
    cdef Py_ssize_t n = len(items), i, j
    if n < 2:
        return tuple(items)
    cdef list keys = [_key(c) for c in items]
    if n > 16:                          # not a genome's: sorted's n log n
        order = sorted(range(n), key=keys.__getitem__)
        keys, items = [keys[i] for i in order], [items[i] for i in order]
    for i in range(1, n):               # insertion sort: stable, and a genome holds a few conditions
        k, c = keys[i], items[i]
        j = i - 1
        while j >= 0 and k < keys[j]:
            keys[j + 1], items[j + 1] = keys[j], items[j]
            j -= 1
        keys[j + 1], items[j + 1] = k, c
    cdef list out = [items[0]]
    last = keys[0]
    for i in range(1, n):
        if keys[i] != last:
            out.append(items[i])
            last = keys[i]
    return tuple(out)
