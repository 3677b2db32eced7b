"""TOML tables bound to frozen dataclasses: the one binder of the campaign config and of the
services' settings.

A dataclass's init fields are the allowed keys with their defaults; an unknown key, a wrong type or
a bad value raises :class:`ConfigError` naming the dotted key path and the value. A class may have
a ``check(path)`` method for rules on its values, called once it is built.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any


class ConfigError(ValueError):
    """A config value is wrong; ``path`` is the dotted key path (``ga.population``)."""

    def __init__(self, path: str, message: str, value: Any = None):
        self.path, self.value = path, value
        super().__init__(f"{path}: {message}" + ("" if value is None else f", got {value!r}"))


def require(ok: bool, path: str, message: str, value: Any) -> None:
    """Raise :class:`ConfigError` for ``path`` unless ``ok``."""
    if not ok:
        raise ConfigError(path, message, value)


def convert(value, tp, path: str):
    """Check one TOML value against a field's declared type: a dataclass (a table), a tuple (an
    array: ``tuple[T, ...]`` of any length, ``tuple[A, B]`` of exactly that shape), float, int,
    bool or str."""
    origin = getattr(tp, "__origin__", None)
    if dataclasses.is_dataclass(tp):
        return build_table(tp, value, path)
    if origin is tuple:
        args = tp.__args__
        if len(args) == 2 and args[1] is Ellipsis:
            what = "an array of tables" if dataclasses.is_dataclass(args[0]) else "an array"
            require(isinstance(value, list), path, f"must be {what}", value)
            return tuple(convert(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        require(isinstance(value, list), path, "must be an array", value)
        require(len(value) == len(args), path, f"must be an array of {len(args)} values", value)
        return tuple(convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is float:
        require(isinstance(value, (int, float)) and not isinstance(value, bool), path, "must be a number", value)
        require(math.isfinite(value), path, "must be finite", value)
        return float(value)
    if tp is int:
        require(isinstance(value, int) and not isinstance(value, bool), path, "must be an integer", value)
        return value
    if tp is bool:
        require(isinstance(value, bool), path, "must be true or false", value)
        return value
    if tp is str:
        require(isinstance(value, str), path, "must be a string", value)
        return value
    raise TypeError(f"unsupported config type {tp} at {path}")  # a programming error, not user input


def build_table(cls, raw, path: str):
    """Validate a TOML table against a dataclass whose fields are the allowed keys; each class may
    have a ``check(path)`` method for its values. Raises :class:`ConfigError` naming the key path."""
    require(isinstance(raw, dict), path or "config", "must be a table", raw)
    hints = {f.name for f in dataclasses.fields(cls) if f.init and f.compare}
    unknown = sorted(set(raw) - hints)
    if unknown:
        key = f"{path}.{unknown[0]}" if path else unknown[0]
        raise ConfigError(key, f"unknown key (allowed: {sorted(hints)})")
    types = typing.get_type_hints(cls)
    obj = cls(**{name: convert(value, types[name], f"{path}.{name}" if path else name)
                 for name, value in raw.items()})
    if hasattr(obj, "check"):
        obj.check(path)
    return obj
