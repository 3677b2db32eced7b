"""Strategy genomes: rules as conjunctions of feature conditions, canonical bytes, ``genome_hash``
and a readable ``strategy.toml``.

A condition reads ``feature op threshold`` or, for a crossover between two level features,
``feature op other * (1 + threshold)``. A genome enters (long or short) when every entry condition
holds at a close, and leaves when every exit condition holds, or on its stop-loss, take-profit or
maximum holding period (each 0 for none). Conditions form a set: their order never changes the
meaning, so the canonical form sorts them and ``genome_hash`` is the same for the same strategy.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from omp_core import _genome
from omp_core._genome import canonical_conditions, quantize  # noqa: F401 - this module's API

FORMAT = _genome.FORMAT         # "omp.genome/1"
OPS = _genome.OPS
SIDES = {"long": 1, "short": -1}
MAX_CONDITIONS = _genome.MAX_CONDITIONS


class _Kept:
    """An attribute made once for each instance by ``make(instance)``, which keeps it in the
    instance's ``__dict__`` under the attribute's name: a non-data descriptor, so every later read
    finds it there without coming here (``functools.cached_property`` without the lock that
    Python 3.11 takes on each first read, for every condition and child the search makes)."""

    def __init__(self, make, doc: str):
        self.make = make
        self.__doc__ = doc

    def __get__(self, obj, cls=None):
        return self if obj is None else self.make(obj)


# Condition and Genome are frozen dataclasses (comparison, hash, repr and order from their fields)
# with their own __init__: it checks, then stores straight into the instance's __dict__, about
# twice as fast as the generated one's object.__setattr__ per field. The search builds every child
# through them, and a grid builds thousands.
@dataclass(frozen=True, order=True, init=False)
class Condition:
    feature: str
    op: str
    threshold: float
    other: str = ""

    __init__ = _genome.condition_init       # (feature, op, threshold, other=""): checks, then stores

    as_json = _Kept(_genome.condition_json, "The condition as compact JSON, keys sorted (the order "
                                            "``Genome.to_dict`` also uses).")

    def describe(self) -> str:
        if self.other:
            rhs = self.other if self.threshold == 0.0 else f"{self.other} * {1.0 + self.threshold:g}"
        else:
            rhs = f"{self.threshold:g}"
        return f"{self.feature} {self.op} {rhs}"


@dataclass(frozen=True, init=False)
class Genome:
    side: int
    entry: tuple[Condition, ...]
    exit: tuple[Condition, ...] = ()
    stop_loss: float = 0.0
    take_profit: float = 0.0
    max_hold: int = 0

    #: (side, entry, exit=(), stop_loss=0.0, take_profit=0.0, max_hold=0): checks, then stores the
    #: condition sets canonical
    __init__ = _genome.genome_init

    @property
    def side_name(self) -> str:
        return "long" if self.side == 1 else "short"

    def feature_names(self) -> list[str]:
        names = []
        for c in self.entry + self.exit:
            names.append(c.feature)
            if c.other:
                names.append(c.other)
        return names

    def to_dict(self) -> dict:
        cond = lambda c: {"feature": c.feature, "op": c.op, "other": c.other, "threshold": c.threshold}  # noqa: E731
        return {"format": FORMAT, "side": self.side_name, "entry": [cond(c) for c in self.entry],
                "exit": [cond(c) for c in self.exit], "stop_loss": self.stop_loss,
                "take_profit": self.take_profit, "max_hold": self.max_hold}

    @classmethod
    def from_dict(cls, d: dict) -> "Genome":
        known = {"format", "side", "entry", "exit", "stop_loss", "take_profit", "max_hold", "genome_hash"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"genome has unknown key(s) {unknown}")
        if d.get("format", FORMAT) != FORMAT:
            raise ValueError(f"genome.format must be {FORMAT!r}, got {d.get('format')!r}")
        if d.get("side") not in SIDES:
            raise ValueError(f"genome.side must be 'long' or 'short', got {d.get('side')!r}")

        def conds(key):
            out = []
            for i, c in enumerate(d.get(key, [])):
                extra = sorted(set(c) - {"feature", "op", "other", "threshold"})
                if extra:
                    raise ValueError(f"genome.{key}[{i}] has unknown key(s) {extra}")
                out.append(Condition(str(c["feature"]), str(c["op"]), float(c.get("threshold", 0.0)),
                                     str(c.get("other", ""))))
            return tuple(out)

        g = cls(SIDES[d["side"]], conds("entry"), conds("exit"), float(d.get("stop_loss", 0.0)),
                float(d.get("take_profit", 0.0)), int(d.get("max_hold", 0)))
        if "genome_hash" in d and d["genome_hash"] != g.genome_hash:
            raise ValueError(f"genome_hash {d['genome_hash']!r} does not match the rules "
                             f"(they hash to {g.genome_hash!r})")
        return g

    def canonical_bytes(self) -> bytes:
        """Compact JSON with sorted keys: the bytes ``genome_hash`` is taken of, the same bytes as
        ``json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))`` (compiled,
        ``_genome.pyx``; a test holds them equal)."""
        return _genome.canonical_bytes(self)

    def dict_json(self) -> str:
        """``json.dumps(self.to_dict(), separators=(",", ":"))``: keys in ``to_dict``'s order."""
        return _genome.dict_json(self)

    genome_hash = _Kept(_genome.genome_hash, "The SHA-256 of the canonical bytes, in hex: made once (a "
                                             "frozen genome hashes to the same value forever).")

    def describe(self) -> str:
        rule = " and ".join(c.describe() for c in self.entry)
        text = f"{self.side_name} when {rule}"
        if self.exit:
            text += "; exit when " + " and ".join(c.describe() for c in self.exit)
        extras = [f"{k} {v:g}" for k, v in (("stop_loss", self.stop_loss), ("take_profit", self.take_profit),
                                            ("max_hold", self.max_hold)) if v]
        return text + ("; " + ", ".join(extras) if extras else "")

    def to_toml(self) -> str:
        """A readable ``strategy.toml`` that :func:`load_toml` turns back into this genome."""
        q = json.dumps
        lines = [f"# {self.describe()}", f"format = {q(FORMAT)}", f"genome_hash = {q(self.genome_hash)}",
                 f"side = {q(self.side_name)}", f"stop_loss = {self.stop_loss!r}",
                 f"take_profit = {self.take_profit!r}", f"max_hold = {self.max_hold}"]
        for key, conds in (("entry", self.entry), ("exit", self.exit)):
            for c in conds:
                lines += ["", f"[[{key}]]", f"feature = {q(c.feature)}", f"op = {q(c.op)}"]
                if c.other:
                    lines.append(f"other = {q(c.other)}")
                lines.append(f"threshold = {c.threshold!r}")
        return "\n".join(lines) + "\n"


def loads_toml(text: str) -> Genome:
    return Genome.from_dict(tomllib.loads(text))


def load_toml(path: str | Path) -> Genome:
    return loads_toml(Path(path).read_text(encoding="utf-8"))


def sma_crossover(fast: int, slow: int, side: int = 1) -> Genome:
    """The classic rule: hold while SMA(fast) is above SMA(slow) (below, for a short)."""
    if not 2 <= fast < slow:
        raise ValueError(f"sma_crossover needs 2 <= fast < slow, got fast={fast}, slow={slow}")
    up, down = (">", "<") if side == 1 else ("<", ">")
    a, b = f"sma_{fast}", f"sma_{slow}"
    return Genome(side, (Condition(a, up, 0.0, b),), (Condition(a, down, 0.0, b),))
