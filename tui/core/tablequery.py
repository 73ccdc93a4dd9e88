"""Filtering and sorting of table rows: the k9s-style ``/`` filter language, fast over 100k rows.

Pure Python (no textual/rich): the panes hand their rows (dicts or dataclasses) to an :class:`Index` once, then
ask it for the row indices that match a filter, in the order asked for. The widget only ever sees the result.

Filter language (``parse_filter``), terms are separated by spaces and must all match (AND):

==========================  ===========================================================================
``s3``                      free text: case-insensitive substring of any text field of the row
``"security group"``        a quoted phrase is one free-text term (spaces kept)
``sev:high`` ``severity:h``  field term; ``sev``/``severity`` and ``status`` match the *start* of the value
``status:unhealthy``        (so ``status:healthy`` does not match "Unhealthy")
``account:2109``            ``account``, ``region``, ``type``, ``std`` match a substring of the value
``tenant:fabrikam``         ``tenant`` matches the start of a word of the value (a tenant's name or id)
``sev:high,medium``         commas inside a field value mean OR
``!public``                 ``!`` in front of a term negates that term
``!sev:low s3``             a *leading* ``!`` negates the whole expression (k9s ``/!x``):
                            rows that do NOT (have sev low AND mention s3)
``foo:bar``                 an unknown field is searched as the free text ``foo:bar`` (with a warning)
==========================  ===========================================================================

``parse_filter`` never raises: odd input (an unterminated quote, a field without a value, a lone ``!``) gives a
usable :class:`Filter` plus a one-line ``warning`` for the status line.
"""
from __future__ import annotations

import math
import operator
import sys
from array import array
from collections import deque
from itertools import compress, repeat
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FIELDS",
    "Filter",
    "Index",
    "Term",
    "accessor",
    "apply",
    "parse_filter",
    "severity_rank",
    "sort",
]

#: Filter field names (as typed) → canonical field name.
FIELDS: Mapping[str, str] = {
    "sev": "sev",
    "severity": "sev",
    "status": "status",
    "account": "account",
    "region": "region",
    "type": "type",
    "std": "std",
    "standard": "std",
    "tenant": "tenant",
}

#: Canonical fields whose values are matched from the start (short closed vocabularies); the others by substring.
PREFIX_FIELDS = frozenset({"sev", "status"})
#: Canonical fields matched from the start of any word of the value ("Fabrikam 9f3c…": a name's word or an id's start).
WORD_PREFIX_FIELDS = frozenset({"tenant"})

_FIELD_LIST = "sev status account region type std tenant"
_NOT_FIELDS = frozenset({"arn", "http", "https", "s3", "ssm"})  # prefixes of ids/URLs, never a mistyped field

Accessor = str | Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Term:
    """One term of a filter: ``values`` are lower-cased; several values (``a,b``) mean OR."""

    values: tuple[str, ...]
    field: str | None = None  # canonical field name, or None for free text
    negate: bool = False

    def __str__(self) -> str:
        """The term in filter syntax (``parse_filter`` reads it back to the same term)."""

        def quoted(v: str) -> str:
            special = any(c.isspace() for c in v) or (self.field is None and (":" in v or v.startswith("!")))
            return f'"{v}"' if special else v

        vals = ",".join(quoted(v) for v in self.values)
        return ("!" if self.negate else "") + (f"{self.field}:{vals}" if self.field else vals)


@dataclass(frozen=True, slots=True)
class Filter:
    """A parsed filter: all ``terms`` must match; ``negate`` inverts the whole result.

    An empty filter (no terms, not negated) matches every row; ``!`` alone matches none.
    """

    terms: tuple[Term, ...] = ()
    negate: bool = False
    text: str = ""  # what the user typed
    warning: str | None = None  # one line for the status bar, or None

    @property
    def is_empty(self) -> bool:
        """True when the filter keeps every row."""
        return not self.terms and not self.negate

    def __str__(self) -> str:
        """The filter in canonical syntax (lower-cased, one space between terms); parses back to the same filter."""
        body = " ".join(str(t) for t in self.terms)
        if self.terms and self.terms[0].negate:
            body = '"" ' + body  # a leading "!" would negate the whole expression; an empty phrase is a no-op
        return "!" + body if self.negate else body


# --------------------------------------------------------------------------------------------------------------
# parsing


def _tokens(text: str, warnings: list[str]) -> list[tuple[str, int, int]]:
    """Split on unquoted whitespace. Returns (token with quotes and leading '!' removed, number of leading unquoted
    '!', index in the token of its first unquoted ':' or -1)."""
    out: list[tuple[str, int, int]] = []
    buf: list[str] = []
    bangs = 0
    colon = -1
    started = False
    in_quote = False
    for ch in text:
        if in_quote:
            if ch == '"':
                in_quote = False
            else:
                buf.append(ch)
        elif ch == '"':
            in_quote = started = True
        elif ch.isspace():
            if started:
                out.append(("".join(buf), bangs, colon))
            buf, bangs, colon, started = [], 0, -1, False
        elif ch == "!" and not buf and not (started and not bangs):
            bangs += 1
            started = True
        else:
            if ch == ":" and colon < 0:
                colon = len(buf)
            buf.append(ch)
            started = True
    if in_quote:
        warnings.append('unterminated " (phrase taken to the end)')
    if started:
        out.append(("".join(buf), bangs, colon))
    return out


def parse_filter(text: str) -> Filter:
    """Parse the ``/`` filter language (see the module docstring). Never raises."""
    try:
        return _parse(text if isinstance(text, str) else str(text))
    except Exception as exc:  # pragma: no cover  # noqa: BLE001 - defensive: a filter box must never crash the UI
        return Filter(text=str(text), warning=f"filter not understood ({type(exc).__name__}); showing every row")


def _parse(text: str) -> Filter:
    stripped = text.lstrip()
    if stripped.startswith("!"):
        inner = _parse(stripped[1:])
        warning = inner.warning
        if not inner.terms and warning is None:
            warning = "“!” with nothing after it matches no rows"
        return Filter(terms=inner.terms, negate=not inner.negate, text=text, warning=warning)

    warnings: list[str] = []
    terms: list[Term] = []
    unknown: list[str] = []
    for raw, bangs, colon in _tokens(text, warnings):
        negate = bangs % 2 == 1  # "!!x" is x again
        if not raw:
            if bangs:
                warnings.append("a lone “!” was ignored")
            continue
        if colon > 0:
            name, value = raw[:colon].lower(), raw[colon + 1:]
            canon = FIELDS.get(name)
            if canon is not None:
                values = tuple(v for v in (p.strip().lower() for p in value.split(",")) if v)
                if not values:
                    warnings.append(f"“{name}:” needs a value (e.g. {name}:{_example(canon)}); ignored")
                    continue
                terms.append(Term(values, canon, negate))
                continue
            # "foo:bar" looks like a mistyped field; "arn:aws:s3:::x" or "https://..." is just text
            if name.isalpha() and len(name) <= 12 and name not in _NOT_FIELDS and ":" not in value \
                    and not value.startswith("/") and name not in unknown:
                unknown.append(name)
        terms.append(Term((raw.lower(),), None, negate))
    if unknown:
        names = ", ".join(f"“{n}:”" for n in unknown)
        warnings.append(f"unknown field {names} searched as text (fields: {_FIELD_LIST})")
    return Filter(terms=tuple(terms), negate=False, text=text, warning="; ".join(warnings) or None)


def _example(canon: str) -> str:
    return {"sev": "high", "status": "unhealthy", "account": "2109", "region": "eu-", "type": "s3",
            "std": "cis", "tenant": "contoso"}.get(canon, "x")


# --------------------------------------------------------------------------------------------------------------
# accessors and sort keys


def accessor(spec: Accessor) -> Callable[[Any], Any]:
    """A function reading one value from a row: a callable as-is; a string reads ``row[spec]`` from mappings and
    ``getattr(row, spec)`` otherwise (missing → None)."""
    if callable(spec):
        return spec
    name = spec

    def get(row: Any) -> Any:
        if isinstance(row, Mapping):
            return row.get(name)
        return getattr(row, name, None)

    return get


def _values(rows: Sequence[Any], spec: Accessor) -> list[Any]:
    """``spec`` read from every row, using C-level iteration when all rows have one shape."""
    if callable(spec):
        return list(map(spec, rows))
    if not rows:
        return []
    kinds = set(map(type, rows))
    if kinds == {dict}:
        return list(map(dict.get, rows, repeat(spec)))
    if len(kinds) == 1 and not issubclass(next(iter(kinds)), Mapping):
        try:
            return list(map(operator.attrgetter(spec), rows))
        except AttributeError:
            pass
    return list(map(accessor(spec), rows))


def _joined(rows: Sequence[Any], specs: list[Accessor]) -> list[str]:
    """Per row, the text of ``specs`` joined by U+001F (one C-level pass when the rows allow it)."""
    if len(specs) == 1:
        return _texts(_values(rows, specs[0]))
    names = [s for s in specs if isinstance(s, str)]
    if rows and len(names) == len(specs):
        kinds = set(map(type, rows))
        getter: Callable[[Any], Any] | None = None
        if kinds == {dict}:
            getter = operator.itemgetter(*names)
        elif len(kinds) == 1 and not issubclass(next(iter(kinds)), Mapping):
            getter = operator.attrgetter(*names)
        if getter is not None:
            try:
                return list(map("\x1f".join, map(getter, rows)))
            except (TypeError, KeyError, AttributeError):  # None / non-str values, missing keys
                pass
    cols = [_texts(_values(rows, s)) for s in specs]
    return list(map("\x1f".join, zip(*cols)))


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    plain = getattr(value, "plain", None)  # a rich Text that slipped through, without importing rich
    if isinstance(plain, str):
        return plain
    return str(value)


def _texts(values: list[Any]) -> list[str]:
    """Values as (not lower-cased) strings, None → ""."""
    if set(map(type, values)) <= {str}:
        return values
    return list(map(_as_text, values))


_SEVERITY = {"critical": 0, "high": 1, "medium": 2, "low": 3, "informational": 4, "info": 4}


def severity_rank(value: Any) -> int:
    """Sort key for severities, most severe first: Critical 0, High 1, Medium 2, Low 3, Info 4, other 5."""
    return _SEVERITY.get(_as_text(value).strip().lower(), 5)


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _sort_key(v: Any) -> tuple[int, Any, str]:
    if isinstance(v, (int, float)):
        return (0, v, "")
    if isinstance(v, str):
        return (1, 0, v.lower())
    return (2, 0, _as_text(v).lower())


def _order(values: list[Any], descending: bool) -> list[int]:
    """Positions 0..n-1 ordered by value, stable (equal values keep their order in both directions); None and
    NaN last in both directions; str compared case-insensitively; mixed types: numbers < strings < other."""
    n = len(values)
    kinds = set(map(type, values))
    missing: list[int] = []
    if kinds - {str}:
        missing = [i for i in range(n) if _is_missing(values[i])]
    if missing:
        gone = set(missing)
        present = [i for i in range(n) if i not in gone]
        kinds = {type(values[i]) for i in present}
    else:
        present = list(range(n))
    if kinds <= {str}:
        # each distinct value lower-cased once (rows repeat values: 100k new strings would be ~10 MB at once)
        low = {v: v.lower() if isinstance(v, str) else "" for v in dict.fromkeys(values)}
        keys: list[Any] = list(map(low.__getitem__, values))
        del low
    elif kinds <= {int, float, bool}:
        keys = values
    else:
        keys = [_sort_key(v) if not _is_missing(v) else (3, 0, "") for v in values]
    distinct = set(keys[i] for i in present) if missing else set(keys)
    if len(distinct) * 2 < len(present):
        # few distinct values: sort those, then sort rows by an int rank (int compares are much cheaper)
        rank = {v: r for r, v in enumerate(sorted(distinct))}
        keys = list(map(rank.get, keys))
    present.sort(key=keys.__getitem__, reverse=descending)
    return present + missing


def sort(rows: Sequence[Any], key: Accessor, descending: bool = False) -> list[Any]:
    """Rows ordered by ``key`` (a field name or a function), stable; None values last in both directions."""
    return [rows[i] for i in _order(_values(rows, key), descending)]


# --------------------------------------------------------------------------------------------------------------
# the index


@dataclass
class _Column:
    """One field of every row, for filtering: a field term, or a free-text term (which holds for a row when one of
    the row's text columns contains it). Few distinct values: those values lower-cased plus one code per row
    (``bytes`` up to 256 values, else ``array('I')``), so a term is evaluated once per distinct value. Many
    distinct values: the lower-cased value per row."""

    distinct: list[str] | None
    codes: bytes | array | None
    lowered: list[str] | None = None
    planes: tuple[bytes, bytes] | None = None  # two-byte codes: (low bytes, high bytes), made when first needed
    # many distinct values: the rows of each value, (positions grouped by code, where each code's group starts);
    # a term then costs what its matching rows cost, not a pass over every row
    groups: tuple[array, array] | None = None

    @classmethod
    def build(cls, values: list[Any]) -> _Column:
        sample = values[:4096]
        try:
            if len(set(sample)) * 4 > len(sample) > 256:  # clearly many distinct values (ids, names)
                return cls(None, None, list(map(str.lower, _texts(values))))
            code_of: dict[Any, Any] = dict.fromkeys(values)
        except TypeError:  # unhashable values
            values = list(map(_as_text, values))
            code_of = dict.fromkeys(values)
        if len(code_of) * 4 > len(values):
            return cls(None, None, list(map(str.lower, _texts(values))))
        for i, k in enumerate(code_of):
            code_of[k] = i
        codes: bytes | array = (bytes if len(code_of) <= 256 else _uint_array)(map(code_of.__getitem__, values))
        return cls([_as_text(k).lower() for k in code_of], codes)

    def hits(self, vals: tuple[str, ...], prefix: bool) -> bytes:
        """One byte per row: 1 where the value starts with (``prefix``) or contains one of ``vals``."""
        if self.distinct is None:
            assert self.lowered is not None
            low = self.lowered
            if prefix:
                return bytes(map(str.startswith, low, repeat(vals)))
            if len(vals) == 1:
                return bytes(map(operator.contains, low, repeat(vals[0])))
            return bytes(any(x in v for x in vals) for v in low)
        if prefix:
            ok = [v.startswith(vals) for v in self.distinct]
        elif len(vals) == 1:
            ok = list(map(operator.contains, self.distinct, repeat(vals[0])))
        else:
            ok = [any(x in v for x in vals) for v in self.distinct]
        return self._rows_of(ok)

    def _rows_of(self, ok: list[bool]) -> bytes:
        """One byte per row: 1 where the row's distinct value is ``ok``."""
        codes = self.codes
        assert codes is not None
        if isinstance(codes, bytes):
            return codes.translate(bytes(ok) + bytes(256 - len(ok)))
        hit = [i for i, good in enumerate(ok) if good]
        n = len(codes)
        if not hit:
            return bytes(n)
        if len(hit) == len(ok):
            return b"\x01" * n
        if self.groups is not None:
            perm, starts = self.groups
            rows = sum(starts[i + 1] - starts[i] for i in hit)
            flip = rows * 2 > n  # mark the fewer: the rows that match, or those that do not
            mark = bytearray(n)
            one = repeat(1)
            for i in (i for i, good in enumerate(ok) if good != flip) if flip else hit:
                deque(map(mark.__setitem__, perm[starts[i]:starts[i + 1]], one), maxlen=0)
            return bytes(mark).translate(_FLIP) if flip else bytes(mark)
        if codes.itemsize == 2 and len({i >> 8 for i in hit}) <= 8:
            # two-byte codes, hits in few blocks of 256 codes (a few hundred titles): per block, the rows whose
            # high byte is the block's and whose low byte is a hit, with bytes.translate (C) instead of a map
            lo, hi = self._planes()
            m = 0
            for block in sorted({i >> 8 for i in hit}):
                table = bytearray(256)
                for i in hit:
                    if i >> 8 == block:
                        table[i & 255] = 1
                same = bytearray(256)
                same[block] = 1
                m |= int.from_bytes(lo.translate(table), "little") & int.from_bytes(hi.translate(same), "little")
            return m.to_bytes(n, "little")
        return bytes(map(bytes(ok).__getitem__, codes))

    def _planes(self) -> tuple[bytes, bytes]:
        """Two-byte codes as their low bytes and their high bytes (made once)."""
        if self.planes is None:
            assert isinstance(self.codes, array)
            raw = self.codes.tobytes()
            if sys.byteorder == "big":
                raw = raw[1::2] + raw[0::2]
                self.planes = (raw[:len(self.codes)], raw[len(self.codes):])
            else:
                self.planes = (raw[0::2], raw[1::2])
        return self.planes

    def word_hits(self, vals: tuple[str, ...]) -> bytes:
        """One byte per row: 1 where a word of the value starts with one of ``vals``."""
        def ok(v: str) -> bool:
            return v.startswith(vals) or any(w.startswith(vals) for w in v.split())

        if self.distinct is None:
            assert self.lowered is not None
            return bytes(map(ok, self.lowered))
        return self._rows_of([ok(v) for v in self.distinct])

    def mask(self, term: Term) -> bytes:
        """One byte per row: 1 where the field term ``term`` holds."""
        m = (self.word_hits(term.values) if term.field in WORD_PREFIX_FIELDS
             else self.hits(term.values, term.field in PREFIX_FIELDS))
        return m.translate(_FLIP) if term.negate else m


def _uint_array(values: Iterable[int]) -> array:
    return array("I", values)


_FLIP = bytes([1]) + bytes(255)  # translate table: 0 -> 1, anything else -> 0


@dataclass
class Index:
    """Rows prepared once for fast repeated filtering and sorting (keep one per pane; rebuild on new data).

    ``fields`` maps canonical filter fields (``sev status account region type std``) to accessors (a dict key /
    attribute name, or a function of the row); ``text`` lists the accessors whose values free-text terms search
    (default: the ``fields`` accessors). A field a filter names but this index lacks is searched as free text
    (:meth:`check` says so). Work is done lazily and cached; :meth:`prepare` does it up front (e.g. in the worker
    thread that fetched the rows).

    >>> ix = Index(rows, fields={"sev": "severity", "account": "aws_account_id"}, text=["title", "resource_name"])
    >>> ix.query(parse_filter("sev:high s3"), sort_key="title")   # -> row indices, filtered and sorted
    """

    rows: Sequence[Any]
    fields: Mapping[str, Accessor] = field(default_factory=dict)
    text: Sequence[Accessor] | None = None
    _text: list[_Column] | None = field(default=None, init=False, repr=False)
    _columns: dict[str, _Column] = field(default_factory=dict, init=False, repr=False)
    _orders: dict[tuple[Hashable, bool], tuple[Sequence[int], Sequence[int] | None]] = field(
        default_factory=dict, init=False, repr=False)
    # orders adopted from elsewhere, checked the first time they are used (12 checks of 1M positions cost ~0.5 s)
    _pending: dict[tuple[Hashable, bool], array] = field(default_factory=dict, init=False, repr=False)
    # columns adopted from elsewhere (built where the rows were fetched), by accessor
    _adopted: dict[Hashable, _Column] = field(default_factory=dict, init=False, repr=False)
    _raw: dict[Hashable, list[Any]] = field(default_factory=dict, init=False, repr=False)  # their values as given

    def __post_init__(self) -> None:
        if not isinstance(self.rows, Sequence):
            self.rows = list(self.rows)
        unknown = [f for f in self.fields if f not in FIELDS.values()]
        if unknown:
            raise ValueError(f"unknown filter field(s) {unknown}; use {_FIELD_LIST}")

    def __len__(self) -> int:
        return len(self.rows)

    def prepare(self, sort_keys: Iterable[tuple[Accessor, bool]] = ()) -> Index:
        """Build the cached structures now (field and search-text columns, and the orders for ``sort_keys`` as
        (key, descending) pairs), e.g. in the worker thread that fetched the rows; returns self."""
        self._text_columns()
        for canon in self.fields:
            self._column(canon)
        for key, descending in sort_keys:
            cache_key = (key if isinstance(key, Hashable) else id(key), descending)
            if cache_key not in self._pending:  # an adopted one is ready: it is checked when first used
                self.order(key, descending)
        return self

    # -- precomputed columns (lazy, cached) ---------------------------------------------------------------------

    def _text_columns(self) -> list[_Column]:
        """The columns free-text terms search (a field's column is shared). Not one joined search string per row:
        at 123k recommendations those strings cost ~25 MB, the columns ~2 MB (their values repeat)."""
        if self._text is None:
            by_spec = {spec: canon for canon, spec in self.fields.items() if isinstance(spec, Hashable)}
            cols: list[_Column] = []
            for spec in self._text_specs():
                canon = by_spec.get(spec) if isinstance(spec, Hashable) else None
                adopted = self._adopted.get(spec) if isinstance(spec, Hashable) else None
                col = (self._column(canon) if canon is not None else adopted if adopted is not None
                       else _Column.build(_values(self.rows, spec)))
                if all(col is not c for c in cols):
                    cols.append(col)
            self._text = cols
        return self._text

    def _text_mask(self, t: Term) -> int:
        """A free-text term as an int mask (one byte per row, 1 where it holds): it holds where one of the row's
        text columns contains one of its values (the same as a substring of the text fields joined by U+001F,
        which a term can never contain: the filter splits on it as on any whitespace)."""
        n = len(self.rows)
        m = 0
        for col in self._text_columns():
            m |= int.from_bytes(col.hits(t.values, False), "little")
        if t.negate:
            m ^= int.from_bytes(bytes([1]) * n, "little")
        return m

    def _text_specs(self) -> list[Accessor]:
        return list(self.text) if self.text is not None else list(self.fields.values())

    def _column(self, canon: str) -> _Column:
        col = self._columns.get(canon)
        if col is None:
            spec = self.fields[canon]
            col = self._adopted.get(spec) if isinstance(spec, Hashable) else None
            if col is None:
                col = _Column.build(_values(self.rows, spec))
            self._columns[canon] = col
        return col

    def adopt_column(self, spec: Accessor, values: Sequence[Any], codes: bytes | array,
                     groups: tuple[array, array] | None = None) -> bool:
        """Use ``values[codes[i]]`` as the value of ``spec`` in row i (built elsewhere, e.g. in the process that
        fetched the rows: one code per row, 1 to 4 bytes); ``groups`` (optional): the rows grouped by code, (row
        positions, where each code's rows start in them, one more than values). False (and nothing adopted) when
        it does not fit the rows. Filtering with it gives what the rows' own values would give."""
        n = len(self.rows)
        if not isinstance(spec, Hashable) or len(codes) != n or (n and max(codes) >= len(values)):
            return False
        if groups is not None:
            perm, starts = groups
            if (len(perm) != n or len(starts) != len(values) + 1 or (n and not starts[-1] == n)
                    or not _looks_like_permutation(perm, n)):
                return False
        distinct = [_as_text(v).lower() for v in values]
        if isinstance(codes, array) and codes.typecode == "B":
            codes = codes.tobytes()
        elif not isinstance(codes, (bytes, array)):
            return False
        self._adopted[spec] = _Column(distinct, codes, groups=groups)
        self._raw[spec] = list(values)
        self._columns = {c: col for c, col in self._columns.items() if self.fields.get(c) != spec}
        self._text = None
        return True

    def count(self, spec: Accessor, holds: Callable[[Any], bool]) -> int | None:
        """Rows whose value of ``spec`` ``holds``, counted from an adopted column (no row is read); None
        without one."""
        col = self._adopted.get(spec) if isinstance(spec, Hashable) else None
        raw = self._raw.get(spec) if isinstance(spec, Hashable) else None
        if col is None or col.codes is None or raw is None:
            return None
        codes = col.codes
        return sum(codes.count(i) for i, v in enumerate(raw) if holds(v))

    def check(self, f: Filter) -> str | None:
        """A one-line warning for ``f`` on this index (its own warning, or fields this pane cannot filter)."""
        missing = sorted({t.field for t in f.terms if t.field and t.field not in self.fields})
        parts = [f.warning] if f.warning else []
        if missing:
            parts.append(f"{', '.join(m + ':' for m in missing)} not available here, searched as text")
        return "; ".join(parts) or None

    # -- filtering -----------------------------------------------------------------------------------------------

    def filter(self, f: Filter | str) -> list[int]:
        """Indices of the rows matching ``f`` (a Filter or filter text), in row order."""
        mask = self.mask(f)
        n = len(self.rows)
        return list(range(n)) if mask is None else list(compress(range(n), mask))

    def mask(self, f: Filter | str | None) -> bytes | None:
        """One byte per row, 1 where the row matches ``f``; None when every row does (an empty filter)."""
        if isinstance(f, str):
            f = parse_filter(f)
        n = len(self.rows)
        if f is None or not f.terms:
            return bytes(n) if f is not None and f.negate else None
        # field terms: a byte mask each (evaluated once per distinct value, then bytes.translate), ANDed as ints
        mask: int | None = None
        for t in f.terms:
            if t.field is not None and t.field in self.fields:
                m = int.from_bytes(self._column(t.field).mask(t), "little")
                mask = m if mask is None else mask & m
        # free-text terms: a mask each too (over the text columns), ANDed with the field terms'
        text_terms = [t for t in f.terms if t.field is None or t.field not in self.fields]
        if text_terms and mask is not None and self._text is None and mask.bit_count() * 8 < n:
            # few candidates and no text columns built yet: search the text of those rows only
            cand = list(compress(range(n), mask.to_bytes(n, "little"))) if mask else []
            rows = self.rows
            sub = list(map(str.lower, _joined([rows[i] for i in cand], self._text_specs())))
            kept: list[int] | None = list(range(len(cand)))
            for t in text_terms:
                kept = _narrow(sub, t, kept)
            mark = bytearray(n)
            deque(map(mark.__setitem__, [cand[p] for p in kept or ()], repeat(1)), maxlen=0)
            out = bytes(mark)
        else:
            for t in text_terms:
                if mask == 0:
                    break
                m = self._text_mask(t)
                mask = m if mask is None else mask & m
            assert mask is not None
            out = mask.to_bytes(n, "little")
        return out.translate(_FLIP) if f.negate else out

    def positions(self, f: Filter | str | None = None, sort_key: Accessor | None = None,
                  descending: bool = False) -> Sequence[int]:
        """What :meth:`query` returns, as compact positions (``array('I')``, or the cached order itself or a
        range when nothing is filtered out: read them, never change them). At 1M rows a list of the positions
        would cost ~36 MB and ~50 ms to make; this never makes one."""
        mask = self.mask(f)
        n = len(self.rows)
        if sort_key is None:
            return range(n) if mask is None else array("I", compress(range(n), mask))
        if mask is not None and mask.count(1) * 8 < n:  # a small subset: sorted by itself
            return array("I", self.sort(list(compress(range(n), mask)), sort_key, descending))
        order = self.order(sort_key, descending)
        if mask is None:
            return order
        # the marked rows in the order's order, one pass in C (no list of positions)
        return array("I", compress(order, map(mask.__getitem__, order)))

    # -- sorting -------------------------------------------------------------------------------------------------

    def _sorted(self, key: Accessor, descending: bool) -> tuple[Sequence[int], Sequence[int] | None]:
        cache_key = (key if isinstance(key, Hashable) else id(key), descending)
        hit = self._orders.get(cache_key)
        pending = self._pending.pop(cache_key, None) if hit is None else None
        if pending is not None and _looks_like_permutation(pending, len(self.rows)):
            hit = self._orders[cache_key] = (pending, None)
        if hit is None:
            hit = self._orders[cache_key] = (array("I", _order(_values(self.rows, key), descending)), None)
        return hit

    def order(self, key: Accessor, descending: bool = False) -> Sequence[int]:
        """All row indices ordered by ``key`` (stable; None last); cached per (key, direction), kept as
        ``array('I')`` (4 bytes a row)."""
        return self._sorted(key, descending)[0]

    def adopt_order(self, key: Accessor, descending: bool, order: Sequence[int], *, check: str = "now") -> None:
        """Use ``order`` (every row position once, as :meth:`order` would compute it, e.g. in another process)
        for ``key``; raises ValueError when it is not a permutation of the rows. ``check="lazy"`` (an order this
        code computed in the collector process): checked cheaply (length, bounds, sum) the first time it is used
        instead; one that fails is dropped and the order computed here."""
        cache_key = (key if isinstance(key, Hashable) else id(key), descending)
        try:
            arr = order if isinstance(order, array) else array("I", order)
        except (OverflowError, TypeError):
            raise ValueError("an adopted order must list every row position exactly once") from None
        if check == "lazy" and len(arr) == len(self.rows):
            self._orders.pop(cache_key, None)
            self._pending[cache_key] = arr
            return
        if not _is_permutation(arr, len(self.rows)):
            raise ValueError("an adopted order must list every row position exactly once")
        self._pending.pop(cache_key, None)
        self._orders[cache_key] = (arr, None)

    def sort(self, indices: Sequence[int], key: Accessor, descending: bool = False) -> list[int]:
        """``indices`` reordered by ``key``; equal keys keep row order (not the order of ``indices``)."""
        n = len(self.rows)
        cache_key = (key if isinstance(key, Hashable) else id(key), descending)
        hit = self._orders.get(cache_key)
        if (hit is None or hit[1] is None) and len(indices) * 8 < n:
            # a small subset and no position map yet (making one reads 1M positions): sort just those rows, by
            # their values (stable in row order)
            subset = sorted(indices)
            rows = self.rows
            return [subset[p] for p in _order(_values([rows[i] for i in subset], key), descending)]
        order, pos = self._sorted(key, descending)
        if len(indices) == n:
            return list(order)
        if len(indices) * 4 >= n:
            # a large subset (distinct row indices, as filters give): one linear pass over the whole order keeping
            # the marked rows, all in C; ~3x faster than sorting 90k indices by position
            mark = bytearray(n)
            deque(map(mark.__setitem__, indices, repeat(1)), maxlen=0)
            return list(compress(order, map(mark.__getitem__, order)))
        if pos is None:
            pos = array("I", bytes(4 * n))
            deque(map(pos.__setitem__, order, range(n)), maxlen=0)  # pos[order[p]] = p, in C
            self._orders[cache_key] = (order, pos)
        return sorted(indices, key=pos.__getitem__)

    def query(self, f: Filter | str | None = None, sort_key: Accessor | None = None,
              descending: bool = False) -> list[int]:
        """Filter then sort: the row indices to show."""
        idx = self.filter(f) if f is not None else list(range(len(self.rows)))
        if sort_key is None:
            return idx
        return self.sort(idx, sort_key, descending)

    def rows_at(self, indices: Iterable[int]) -> list[Any]:
        """The rows at ``indices``, in that order."""
        rows = self.rows
        return [rows[i] for i in indices]


def _looks_like_permutation(order: Sequence[int], n: int) -> bool:
    """``order`` has n positions, each in 0..n-1, summing to what 0..n-1 sum to: a cheap check (two passes in C,
    ~10 ms at 1M) that catches a truncated, shifted or garbled order, for one computed by this code elsewhere."""
    try:
        return len(order) == n and (not n or (min(order) >= 0 and max(order) < n and sum(order) == n * (n - 1) // 2))
    except TypeError:
        return False


def _is_permutation(order: Sequence[int], n: int) -> bool:
    """``order`` lists every position 0..n-1 exactly once (checked in C: a set of 1M ints would cost ~40 MB)."""
    seen = bytearray(n)
    try:
        if len(order) != n or (n and min(order) < 0):
            return False
        deque(map(seen.__setitem__, order, repeat(1)), maxlen=0)
    except (IndexError, TypeError):
        return False
    return seen.count(1) == n


def _narrow(blobs: list[str], t: Term, cand: list[int] | None) -> list[int]:
    vals, neg = t.values, t.negate
    if len(vals) == 1:
        v = vals[0]
        if cand is None:
            hits = map(operator.contains, blobs, repeat(v))
            return list(compress(range(len(blobs)), map(operator.not_, hits) if neg else hits))
        if neg:
            return [i for i in cand if v not in blobs[i]]
        return [i for i in cand if v in blobs[i]]
    src = range(len(blobs)) if cand is None else cand
    if neg:
        return [i for i in src if not any(v in blobs[i] for v in vals)]
    return [i for i in src if any(v in blobs[i] for v in vals)]


def apply(rows: Sequence[Any], f: Filter | str, *, fields: Mapping[str, Accessor] | None = None,
          text: Sequence[Accessor] | None = None) -> list[Any]:
    """One-shot: the rows matching ``f``. Build an :class:`Index` instead when filtering the same rows again."""
    ix = Index(rows, fields=fields or {}, text=text)
    return ix.rows_at(ix.filter(f))
