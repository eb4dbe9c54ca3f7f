"""One way to build a frozen dataclass config from a dict (YAML, JSON, keyword arguments, HTTP bodies).

Types come from the field annotations (``int``, ``float``, ``str``, ``bool``, ``Optional``/unions,
``Literal``, ``tuple[X, ...]``/``tuple[X, Y]``, nested dataclasses); bounds sit next to the field::

    @dataclass(frozen=True)
    class Design:
        num_designs: int = field(default=8, metadata={"min": 1, "max": 100_000})

``from_dict(Design, {"num_designs": 0})`` raises ``ConfigError("num_designs=0 must be >= 1")``. Errors name
the Python field (dotted for nested configs), so each front end (CLI flags, HTTP fields) can translate
them to its own names. Floats must be finite unless a field says ``metadata={"finite": False}``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from typing import Any, Literal, Mapping, TypeVar, Union

T = TypeVar("T")


class ConfigError(ValueError):
    """A bad config value; ``field`` is the dotted Python field name, ``value`` what was given."""

    def __init__(self, field: str, value: Any, problem: str):
        self.field, self.value, self.problem = field, value, problem
        super().__init__(f"{field}={value!r} {problem}")


# a number in exponent notation without a dot (3e-4, 1E5), which PyYAML's YAML 1.1 resolver leaves a string
YAML_EXPONENT = re.compile(r"[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+")


def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """``cls(**data)`` with every value checked against its annotation and bounds; unknown keys are errors."""
    if not isinstance(data, Mapping):
        raise ConfigError(prefix.rstrip(".") or cls.__name__, data, f"must be a mapping of {cls.__name__} fields")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        name = prefix + unknown[0]
        raise ConfigError(name, data[unknown[0]], f"is not a {cls.__name__} field; known: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    values = {k: convert(hints[k], v, prefix + k, fields[k].metadata) for k, v in data.items()}
    return cls(**values)


def validate(instance: Any, prefix: str = "") -> None:
    """Check an already-built config (call it from ``__post_init__``) with the rules ``from_dict`` uses."""
    hints = typing.get_type_hints(type(instance))
    for f in dataclasses.fields(instance):
        value = getattr(instance, f.name)
        converted = convert(hints[f.name], value, prefix + f.name, f.metadata)
        if converted != value and not _same_number(converted, value):
            raise ConfigError(prefix + f.name, value, f"must be {_describe(hints[f.name])}")


def convert(kind: Any, value: Any, name: str, metadata: Mapping[str, Any] = types.MappingProxyType({})) -> Any:
    """``value`` as type ``kind`` (lists become tuples, ints floats, dicts nested configs), bounds checked."""
    out = _convert(kind, value, name, metadata)
    _check_bounds(out, name, value, metadata)
    return out


def _convert(kind: Any, value: Any, name: str, metadata: Mapping[str, Any]) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(option, value, name, metadata)
            except ConfigError as err:
                errors.append(err)
        if len(errors) == 1:  # Optional[X]: X's own message (it may name a nested field or a bound)
            raise errors[0]
        raise ConfigError(name, value, f"must be {_describe(kind)}")
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise ConfigError(name, value, f"must be one of {', '.join(repr(a) for a in args)}")
    if origin is tuple:
        return _convert_tuple(args, value, name, metadata)
    if origin is dict or kind is dict:  # a free-form section (e.g. a domain's data options): keys are strings
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ConfigError(name, value, "must be a mapping with string keys")
        item = args[1] if len(args) == 2 else Any
        return {k: _convert(item, v, f"{name}.{k}", {}) for k, v in value.items()}
    if dataclasses.is_dataclass(kind):
        if isinstance(value, kind):
            validate(value, name + ".")
            return value
        return from_dict(kind, value, name + ".")
    return _convert_scalar(kind, value, name, metadata)


def _convert_tuple(args: tuple, value: Any, name: str, metadata: Mapping[str, Any]) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(name, value, "must be a list or tuple")
    if len(args) == 2 and args[1] is Ellipsis:
        kinds = [args[0]] * len(value)
    elif len(args) != len(value):
        raise ConfigError(name, value, f"must have {len(args)} items")
    else:
        kinds = list(args)
    return tuple(_convert(k, v, f"{name}[{i}]", metadata) for i, (k, v) in enumerate(zip(kinds, value)))


def _convert_scalar(kind: Any, value: Any, name: str, metadata: Mapping[str, Any]) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, str) and YAML_EXPONENT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 (PyYAML) reads 3e-4 as a string; it is meant as a number
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if not math.isfinite(value) and metadata.get("finite", True):
                raise ConfigError(name, value, "must be a finite number")
            return value
    elif kind is type(None):
        if value is None:
            return None
    elif isinstance(kind, type):
        if isinstance(value, kind):
            return value
        if kind.__module__ == "pathlib" and isinstance(value, str):
            return kind(value)
    raise ConfigError(name, value, f"must be {_describe(kind)}")


def _check_bounds(value: Any, name: str, given: Any, metadata: Mapping[str, Any]) -> None:
    if isinstance(value, tuple):  # bounds apply to each item
        for i, item in enumerate(value):
            _check_bounds(item, f"{name}[{i}]", item, metadata)
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    low, high = metadata.get("min"), metadata.get("max")
    if low is not None and value < low:
        raise ConfigError(name, given, f"must be >= {low}")
    if high is not None and value > high:
        raise ConfigError(name, given, f"must be <= {high}")


def _same_number(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, int) and not isinstance(b, bool) and a == b


def _describe(kind: Any) -> str:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        return "a tuple"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is dict:
        return "a mapping"
    if kind is type(None):
        return "null"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return names.get(kind, getattr(kind, "__name__", str(kind)))
