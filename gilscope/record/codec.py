"""Dataclasses to JSON values and back, by their own field types: what a recording holds.

A dataclass becomes the list of its field values, in order (no names: a recording holds
tens of thousands of them); a dict the list of its [key, value] pairs, so keys may be
dataclasses too; an enum its value; a ``Tally`` (slots, not a dataclass) its counters.
Decoding walks the declared type, so ``decode(T, encode(x)) == x`` for the types a
recording uses.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import typing
from typing import Any, Dict, Tuple, Type, TypeVar, Union, get_args, get_origin

from gilscope.model.lanes import Tally
from gilscope.model.waits import WaitHistogram

T = TypeVar("T")
_TALLY = ("held_ns", "runs", "wait_ns", "waits", "cpu_ns", "runq_ns", "first_ns", "last_ns",
          "members")  # fmt: skip
_HINTS: Dict[type, Dict[str, Any]] = {}


class CodecError(ValueError):
    """The data is not of the declared type: a damaged or foreign recording."""


def encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [encode(getattr(value, f.name)) for f in dataclasses.fields(value)]
    if isinstance(value, Tally):
        hist = value.wait_hist
        waits = None if hist is None else [sorted(hist.bins.items()), hist.n]
        return [*(getattr(value, name) for name in _TALLY), waits]
    if isinstance(value, dict):
        return [[encode(k), encode(v)] for k, v in value.items()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [encode(v) for v in value]
    raise CodecError(f"cannot record a {type(value).__name__}")


def decode(kind: Any, data: Any) -> Any:
    """``data`` read back as a ``kind`` (a class or a typing form such as Tuple[int, ...])."""
    try:
        return _decode(kind, data)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        raise CodecError(f"not a {getattr(kind, '__name__', kind)}: {e}") from None


def _decode(kind: Any, data: Any) -> Any:
    if kind is Any:
        return data
    origin = get_origin(kind)
    if origin is Union:
        if data is None and type(None) in get_args(kind):
            return None
        inner = [a for a in get_args(kind) if a is not type(None)]
        return _decode(inner[0], data)
    if origin in (list, tuple, set, frozenset, dict) or kind in (list, tuple, dict):
        return _container(kind, origin, data)
    if isinstance(kind, type):
        if kind is Tally:
            tally = Tally()
            for name, v in zip(_TALLY, data):
                setattr(tally, name, int(v))
            if len(data) > len(_TALLY) and data[len(_TALLY)] is not None:
                bins, n = data[len(_TALLY)]
                tally.wait_hist = WaitHistogram()
                tally.wait_hist.bins = {int(b): int(c) for b, c in bins}
                tally.wait_hist.n = int(n)
            return tally
        if issubclass(kind, enum.Enum):
            return kind(data)
        if dataclasses.is_dataclass(kind):
            hints = _hints(kind)
            fields = dataclasses.fields(kind)
            if not isinstance(data, list) or len(data) > len(fields):
                raise TypeError(f"{len(data)} fields for {len(fields)}")
            return kind(*(_decode(hints[f.name], v) for f, v in zip(fields, data)))
        if kind is float:
            return float(data)
        if kind in (int, str, bool) and not isinstance(data, kind):
            raise TypeError(f"{data!r} is no {kind.__name__}")
        return data
    raise TypeError(f"cannot read a {kind}")


def _container(kind: Any, origin: Any, data: Any) -> Any:
    args = get_args(kind)
    if not isinstance(data, list):
        raise TypeError(f"{data!r} is no list")
    if origin is dict or kind is dict:
        k, v = args if args else (Any, Any)
        return {_decode(k, a): _decode(v, b) for a, b in data}
    if origin is tuple and args and args[-1] is not Ellipsis:
        return tuple(_decode(a, v) for a, v in zip(args, data))
    item = args[0] if args else Any
    items = [_decode(item, v) for v in data]
    return items if origin is list or kind is list else (origin or tuple)(items)


def _hints(cls: Type[Any]) -> Dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        module = sys.modules[cls.__module__]
        hints = _HINTS[cls] = typing.get_type_hints(cls, vars(module))
    return hints


def pairs(kind: Tuple[Any, ...], data: Any) -> Tuple[Any, ...]:
    """A tuple of values of the given kinds, as a recording's op holds them."""
    if not isinstance(data, list) or len(data) != len(kind):
        raise CodecError(f"{len(data) if isinstance(data, list) else '?'} values for {len(kind)}")
    return tuple(decode(k, v) for k, v in zip(kind, data))
