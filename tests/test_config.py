"""``seqdiff.config.from_dict``: types, bounds, nesting and error messages that name the Python field."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqdiff.config import ConfigError, from_dict, validate


@dataclass(frozen=True)
class Inner:
    temperature: float = field(default=1.0, metadata={"min": 0.0, "max": 10.0})
    top_k: Optional[int] = field(default=None, metadata={"min": 1})


@dataclass(frozen=True)
class Outer:
    num_designs: int = field(default=8, metadata={"min": 1, "max": 1000})
    name: str = "x"
    mode: Literal["a", "b"] = "a"
    flag: bool = False
    sizes: tuple[int, ...] = field(default=(1, 2), metadata={"min": 0})
    pair: tuple[int, float] = (0, 0.0)
    inner: Inner = Inner()
    extra: Optional[Inner] = None

    def __post_init__(self) -> None:
        validate(self)


def outers():
    inner = st.builds(Inner, temperature=st.floats(0, 10), top_k=st.none() | st.integers(1, 50))
    return st.builds(Outer, num_designs=st.integers(1, 1000), name=st.text(max_size=5),
                     mode=st.sampled_from(["a", "b"]), flag=st.booleans(),
                     sizes=st.lists(st.integers(0, 9), max_size=3).map(tuple),
                     pair=st.tuples(st.integers(-5, 5), st.floats(-1, 1)), inner=inner, extra=st.none() | inner)


@given(outers())
def test_round_trip_through_a_plain_dict(config):
    data = asdict(config)
    data["sizes"] = list(data["sizes"])  # as YAML/JSON would give it
    assert from_dict(Outer, data) == config


@given(st.integers(-10**6, 10**6))
def test_integer_bounds_name_the_field(n):
    if 1 <= n <= 1000:
        assert from_dict(Outer, {"num_designs": n}).num_designs == n
    else:
        with pytest.raises(ConfigError, match=rf"^num_designs={n} must be [<>]= ") as err:
            from_dict(Outer, {"num_designs": n})
        assert err.value.field == "num_designs" and err.value.value == n


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_nested_float_bounds_and_non_finite(t):
    if math.isfinite(t) and 0 <= t <= 10:
        assert from_dict(Outer, {"inner": {"temperature": t}}).inner.temperature == t
    else:
        with pytest.raises(ConfigError) as err:
            from_dict(Outer, {"inner": {"temperature": t}})
        assert err.value.field == "inner.temperature"


@given(st.one_of(st.text(), st.floats(), st.booleans(), st.lists(st.integers()), st.none()))
def test_wrong_types_are_refused(value):
    with pytest.raises(ConfigError, match="^num_designs=.* must be an integer$"):
        from_dict(Outer, {"num_designs": value})


def test_unknown_keys_list_the_known_ones():
    with pytest.raises(ConfigError, match="nope=1 is not a Outer field; known: extra, flag, inner,") as err:
        from_dict(Outer, {"nope": 1})
    assert err.value.field == "nope"
    with pytest.raises(ConfigError, match=r"^inner.top=3 is not a Inner field; known: temperature, top_k$"):
        from_dict(Outer, {"inner": {"top": 3}})


def test_optional_literal_tuple_and_mapping_errors():
    with pytest.raises(ConfigError, match=r"^extra.top_k=0 must be >= 1$"):
        from_dict(Outer, {"extra": {"top_k": 0}})
    with pytest.raises(ConfigError, match=r"^mode='c' must be one of 'a', 'b'$"):
        from_dict(Outer, {"mode": "c"})
    with pytest.raises(ConfigError, match=r"^sizes\[1\]=-1 must be >= 0$"):
        from_dict(Outer, {"sizes": [3, -1]})
    with pytest.raises(ConfigError, match="^pair=.* must have 2 items$"):
        from_dict(Outer, {"pair": [1]})
    with pytest.raises(ConfigError, match="^inner=.* must be a mapping of Inner fields$"):
        from_dict(Outer, {"inner": [1]})
    with pytest.raises(ConfigError, match="^flag=1 must be true or false$"):
        from_dict(Outer, {"flag": 1})
    assert from_dict(Outer, {"inner": {"temperature": 2}}).inner.temperature == 2.0  # ints widen to floats


def test_direct_construction_is_validated_too():
    with pytest.raises(ConfigError, match="^num_designs=0 must be >= 1$"):
        Outer(num_designs=0)
    with pytest.raises(ConfigError, match=r"^inner.temperature=nan must be a finite number$"):
        Outer(inner=Inner(temperature=float("nan")))


@pytest.mark.parametrize("text,number", [("3e-4", 3e-4), ("1E5", 1e5), ("-2.5e3", -2500.0)])
def test_exponent_strings_from_yaml_are_numbers(text, number):
    """PyYAML reads ``lr: 3e-4`` as the string '3e-4'; a float field takes it as the number it means."""
    import yaml

    assert yaml.safe_load(f"t: {text}")["t"] in (text, number)
    if 0 <= number <= 10:
        assert from_dict(Inner, {"temperature": text}).temperature == number
    else:
        with pytest.raises(ConfigError, match="inner|temperature"):
            from_dict(Inner, {"temperature": text})
    with pytest.raises(ConfigError, match="must be a number"):
        from_dict(Inner, {"temperature": "three"})
