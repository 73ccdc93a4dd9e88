"""Plain data to and from JSON, tagged so that tuples, datetimes and the model's own dataclasses come back as they
were, and so that reading it can never run code (what pickle from a file would allow).

- JSON types as they are (str, int, float, bool, None, list; a dict whose keys are strings without a leading "$").
- Everything else is an object whose first key is a tag starting with "$":
  ``{"$t": [...]}`` tuple, ``{"$dt": "iso"}`` datetime, ``{"$m": [[k, v], ...]}`` any other mapping,
  ``{"$c": "Name", field: value, ...}`` an instance of a dataclass the reader allows by name (and only those).
  The tag is the first key; a reader looks at that key only.
- Anything else cannot be written (TypeError) and an unknown tag or class cannot be read (ValueError): a file
  planted by someone else yields plain data or an error, never a call of their choosing.

``ext`` lets a front end add its own leaf types (e.g. rich ``Text``) as ``{"$x": [kind, data]}``, read back only by
the decoders it names. Never imports textual or rich.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Callable

Encoder = Callable[[Any], "tuple[str, Any] | None"]


def model_classes() -> dict[str, type]:
    """Every dataclass of tui.core.model, by name: what a snapshot is made of."""
    from . import model as m

    return {name: obj for name, obj in vars(m).items()
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == m.__name__}


def to_plain(obj: Any, ext: Encoder | None = None) -> Any:
    """``obj`` as JSON-ready values with tags (see the module doc)."""
    t = type(obj)
    if obj is None or t is str or t is int or t is float or t is bool:
        return obj
    if t is list:
        return [to_plain(v, ext) for v in obj]
    if t is tuple:
        return {"$t": [to_plain(v, ext) for v in obj]}
    if t is datetime:
        return {"$dt": obj.isoformat()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"$c": t.__name__}  # the tag first: a reader looks at the first key only
        for f in dataclasses.fields(obj):
            if f.init:
                out[f.name] = to_plain(getattr(obj, f.name), ext)
        return out
    if isinstance(obj, Mapping):
        if all(type(k) is str and not k.startswith("$") for k in obj):
            return {k: to_plain(v, ext) for k, v in obj.items()}
        return {"$m": [[to_plain(k, ext), to_plain(v, ext)] for k, v in obj.items()]}
    if ext is not None:
        got = ext(obj)
        if got is not None:
            return {"$x": [got[0], got[1]]}
    raise TypeError(f"cannot store a {t.__name__}")


def dumps(obj: Any, ext: Encoder | None = None) -> str:
    """``obj`` as tagged JSON text. The text is the same as ``json.dumps(to_plain(obj, ext))`` (compact, UTF-8 kept)
    but it is written part by part: a large value's JSON-ready copy (a dict per dataclass, ~3x the objects'
    memory: ~40 MB at once for the large estate's snapshot) never exists whole, only one small part's at a time."""
    out = _Text()
    _write(obj, ext, out, 0)
    return out.value()


_dump_part = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode
_STREAM_LEN = 16  # a list, tuple or mapping with at least this many items is written item by item
_STREAM_DEPTH = 4  # and anything this near the top (the snapshot, its sections, their data) part by part


class _Text:
    """Parts of a JSON text, joined into blocks of ~1 MB as they come (few, large strings: they go back to the
    system when freed, where a million small ones would leave the heap fragmented)."""

    BLOCK = 1 << 20

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.parts: list[str] = []
        self.size = 0

    def add(self, part: str) -> None:
        self.parts.append(part)
        self.size += len(part)
        if self.size >= self.BLOCK:
            self.blocks.append("".join(self.parts))
            self.parts.clear()
            self.size = 0

    def value(self) -> str:
        self.blocks.append("".join(self.parts))
        self.parts.clear()
        text = "".join(self.blocks)
        self.blocks.clear()
        return text


def _write(obj: Any, ext: Encoder | None, out: _Text, depth: int) -> None:
    """``obj``'s text (what ``json.dumps(to_plain(obj, ext))`` gives) to ``out``: large containers and the top
    dataclasses part by part, everything else whole."""
    t = type(obj)
    if t is list or t is tuple:
        if len(obj) < _STREAM_LEN and depth >= _STREAM_DEPTH:
            out.add(_dump_part(to_plain(obj, ext)))
            return
        out.add("[" if t is list else '{"$t":[')
        for i, v in enumerate(obj):
            if i:
                out.add(",")
            _write(v, ext, out, depth + 1)
        out.add("]" if t is list else "]}")
        return
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type) and depth < _STREAM_DEPTH:
        out.add('{"$c":' + _dump_part(t.__name__))
        for f in dataclasses.fields(obj):
            if f.init:
                out.add("," + _dump_part(f.name) + ":")
                _write(getattr(obj, f.name), ext, out, depth + 1)
        out.add("}")
        return
    if isinstance(obj, Mapping) and (len(obj) >= _STREAM_LEN or depth < _STREAM_DEPTH):
        if all(type(k) is str and not k.startswith("$") for k in obj):
            out.add("{")
            for i, (k, v) in enumerate(obj.items()):
                out.add(("," if i else "") + _dump_part(k) + ":")
                _write(v, ext, out, depth + 1)
            out.add("}")
        else:
            out.add('{"$m":[')
            for i, (k, v) in enumerate(obj.items()):
                out.add(("[" if not i else ",[") + _dump_part(to_plain(k, ext)) + ",")
                _write(v, ext, out, depth + 1)
                out.add("]")
            out.add("]}")
        return
    out.add(_dump_part(to_plain(obj, ext)))


def loads(text: str | bytes, classes: Mapping[str, type] | None = None,
          ext: Mapping[str, Callable[[Any], Any]] | None = None) -> Any:
    """The inverse of :func:`dumps`. Only the dataclasses in ``classes`` (by name) and the decoders in ``ext`` can
    be made; anything else raises ValueError."""
    classes = classes or {}
    ext = ext or {}

    def hook(d: dict[str, Any]) -> Any:
        for first in d:  # noqa: B007 - read after the loop: the first key (the fastest way to get it)
            break  # a tag is always the first key; a "$" key elsewhere is plain data (never written so)
        else:
            return d
        if first[:1] != "$":
            return d
        if first == "$c":
            name = d.pop("$c")
            cls = classes.get(name) if type(name) is str else None
            if cls is None:
                raise ValueError(f"class {name!r} is not allowed here")
            try:
                return cls(**d)
            except TypeError as e:  # fields of another version of the class
                raise ValueError(f"{cls.__name__}: {e}") from None
        if len(d) != 1:
            raise ValueError(f"bad {first!r}")
        v = d[first]
        if first == "$t":
            if type(v) is not list:
                raise ValueError("bad tuple")
            return tuple(v)
        if first == "$dt":
            if type(v) is not str:
                raise ValueError("bad datetime")
            return datetime.fromisoformat(v)
        if first == "$m":
            if type(v) is not list or not all(type(p) is list and len(p) == 2 for p in v):
                raise ValueError("bad mapping")
            return {_hashable(k): val for k, val in v}
        if first == "$x":
            if type(v) is not list or len(v) != 2 or type(v[0]) is not str or v[0] not in ext:
                raise ValueError("unknown extension")
            return ext[v[0]](v[1])
        raise ValueError(f"unknown tag {first!r}")

    try:
        return json.loads(text, object_hook=hook)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _hashable(k: Any) -> Any:
    if isinstance(k, list):
        raise ValueError("a list as a mapping key")
    return k
