"""What a refresh of a large estate holds at its peak (make bench row 4: UI + collector RSS), checked for what it
must keep doing: the history's JSON text written part by part is the same text, the sort orders built then sent
one by one arrive the same, a refresh where nothing moved keeps the previous answer's orders and columns (the same
objects), and both processes map large blocks on their own (glibc's mmap threshold fixed).
"""
from __future__ import annotations

import ctypes
import io
import json
import pickle
import subprocess
import sys
import threading
from array import array
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tui.core import codec, memory, rectable
from tui.core import model as m
from tui.core.procservice import ProcessService, _Call, read_msg
from tui.core.servicehost import send_orders

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------------- codec.dumps


def _reference(obj: object, ext: codec.Encoder | None = None) -> str:
    """What codec.dumps wrote before it wrote part by part: the whole JSON-ready copy, then one json.dumps."""
    return json.dumps(codec.to_plain(obj, ext), separators=(",", ":"), ensure_ascii=False, allow_nan=True)


def _rec(i: int) -> m.Recommendation:
    return m.Recommendation(id=f"/sub/x/assessments/{i}", assessment_key=f"k{i % 7}", title=f"Titlé {i % 5}",
                            severity=("High", "Low")[i % 2], status="Unhealthy", connector_id="c",
                            resource_name=None if i % 3 else f"r{i}", region="eu-west-1", aws_account_id="1" * 12)


def _snapshot(n: int) -> m.Snapshot:
    now = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)
    counts = tuple(m.RecommendationCount(f"conn{i}", "High", "Unhealthy", i) for i in range(n))
    sections = {name: m.Section(m.SectionStatus(name, "ok", now)) for name in m.SECTION_NAMES}
    sections["recommendations"] = m.Section(m.SectionStatus("recommendations", "ok", now),
                                            m.RecommendationsData(counts))
    return m.Snapshot(generated_at=now, subscriptions=tuple(f"s{i}" for i in range(n)), sections=sections)


@pytest.mark.parametrize("obj", [
    _snapshot(0), _snapshot(3), _snapshot(40),
    [_rec(i) for i in range(50)],
    {"a": [1, 2.5, float("nan"), None, True], "b": {"c": (1, 2)}, "d": []},
    {str(i): {"deep": [{"x": (i, [j for j in range(i)])}]} for i in range(20)},  # wide and nested mappings
    {(1, 2): "tuple key", 3: [4], "$x": 5},  # not JSON keys: tagged as a mapping
    {i: str(i) for i in range(30)},  # the same, wide
    (), [], {}, "", tuple(range(40)), [[[[[[1]]]]]],  # empty and deep containers
    datetime(2026, 1, 1, tzinfo=timezone.utc), "ünïcode \u2028 \"quoted\" \\ end",
])
def test_dumps_writes_the_same_text_as_the_whole_copy_did(obj: object) -> None:
    text = codec.dumps(obj)
    assert text == _reference(obj)
    back = codec.loads(text, codec.model_classes())
    assert codec.dumps(back) == text


def test_dumps_with_an_extension_and_its_errors_are_the_same() -> None:
    class Leaf:
        def __init__(self, v: str) -> None:
            self.v = v

    def ext(o: object) -> tuple[str, object] | None:
        return ("leaf", o.v) if isinstance(o, Leaf) else None

    obj = {"rows": [[Leaf(str(i)), i] for i in range(30)], "one": Leaf("x")}
    assert codec.dumps(obj, ext=ext) == _reference(obj, ext)
    for bad in ([object()], [1] * 20 + [object()], {"deep": {"deeper": [object()]}}, {"k": Leaf("no ext")}):
        with pytest.raises(TypeError):
            codec.dumps(bad)


def test_dumps_of_the_text_blocks_joins_every_part() -> None:
    out = codec._Text()
    out.BLOCK = 5  # a block every few characters: the joins between blocks are where a part could go missing
    parts = [str(i) * (i % 4) for i in range(100)]
    for p in parts:
        out.add(p)
    assert len(out.blocks) > 10
    assert out.value() == "".join(parts)


# ------------------------------------------------------------------------------------------------- sort orders


def _rows(n: int) -> list[m.Recommendation]:
    return [_rec(i) for i in range(n)]


def _built(rows: list[m.Recommendation], page: int = 7) -> rectable.Orders:
    ob = rectable.OrderBuilder()
    for a in range(0, len(rows), page):
        ob.add(rows[a:a + page])
    orders = ob.orders()
    # spent: what it kept while the rows streamed past is let go as the orders are made
    assert not ob.columns and not ob._codes and not ob._coded and not ob._same
    return orders


def test_the_orders_are_the_indexs_own_and_the_columns_name_every_rows_value() -> None:
    rows = _rows(300)
    orders = _built(rows)
    local = rectable.make_index(rows)
    assert set(orders) == {(k, d) for k in rectable.SORT_KEYS for d in (False, True)}
    for (name, desc), order in orders.items():
        assert isinstance(order, array) and list(order) == list(local.order(rectable.SORT_KEYS[name], desc))
    assert set(orders.columns) == set(rectable.COLUMNS)
    for attr, (values, codes, _groups) in orders.columns.items():
        assert [values[c] for c in codes] == [getattr(r, attr) for r in rows], attr


def _parts(orders: rectable.Orders) -> list[tuple[object, ...]]:
    """What the collector writes for a table's orders (servicehost.send_orders), read back from the pipe."""
    buf = io.BytesIO()
    send_orders(buf, 7, orders, threading.Lock())
    assert not orders and not orders.columns  # each let go once sent
    buf.seek(0)
    out = []
    while buf.tell() < len(buf.getvalue()):
        out.append(read_msg(buf))
    return out


def _receive(parts: list[tuple[object, ...]], previous: rectable.Orders | None) -> rectable.Orders:
    c = _Call()
    c.previous_orders = previous
    for call_id, kind, payload in parts:
        assert call_id == 7 and kind in ("order", "column")
        ProcessService._add_order_part(c, kind, payload)
    assert isinstance(c.orders, rectable.Orders)
    return c.orders


def test_orders_sent_one_by_one_arrive_whole() -> None:
    rows = _rows(300)
    want = _built(rows)
    got = _receive(_parts(_built(rows)), None)
    assert {k: list(v) for k, v in got.items()} == {k: list(v) for k, v in want.items()}
    assert set(got.columns) == set(want.columns)
    for attr, (values, codes, groups) in want.columns.items():
        g_values, g_codes, g_groups = got.columns[attr]
        assert g_values == values and g_codes == codes and g_codes.typecode == codes.typecode
        assert (g_groups is None) == (groups is None) and (groups is None or list(g_groups) == list(groups))
    ix, own = rectable.make_index(rows, got), rectable.make_index(rows)  # the pane adopts them as before
    for f in ("sev:high", "!status:unh r1", "titlé 3"):
        for key in ("title", "resource", "account"):
            want_pos = own.positions(f, rectable.SORT_KEYS[key], True)
            assert list(ix.positions(f, rectable.SORT_KEYS[key], True)) == list(want_pos), (f, key)


def test_a_refresh_keeps_the_previous_orders_where_nothing_moved_and_only_there() -> None:
    rows = _rows(300)
    first = _receive(_parts(_built(rows)), None)
    again = _receive(_parts(_built(rows)), first)
    for key in first:
        assert again[key] is first[key], key
    for attr in first.columns:
        assert again.columns[attr] is first.columns[attr], attr

    # one row's status and title changed, one row more: what depends on them is the new answer's
    changed = [*rows[:5], replace(rows[5], status="Healthy", title="Zzz"), *rows[6:]]
    third = _receive(_parts(_built(changed)), again)
    assert list(third[("status", False)]) != list(again[("status", False)])
    assert third[("status", False)] is not again[("status", False)]
    assert third.columns["status"] is not again.columns["status"]
    assert third.columns["title"] is not again.columns["title"]
    assert third[("region", False)] is again[("region", False)]  # the regions did not move
    assert third.columns["region"] is again.columns["region"]
    local = rectable.make_index(changed)
    for (name, desc), order in third.items():
        assert list(order) == list(local.order(rectable.SORT_KEYS[name], desc)), (name, desc)
    more = _receive(_parts(_built(rows + [_rec(300)])), again)
    assert all(more[k] is not again[k] for k in again)  # another length: nothing can be the same
    # a same-valued part of another type is not taken for the previous one
    c = _Call()
    c.previous_orders = rectable.Orders({("region", False): array("I", [0, 1])})
    ProcessService._add_order_part(c, "order", (("region", False), array("H", [0, 1])))
    assert c.orders[("region", False)].typecode == "H"


# ------------------------------------------------------------------------------------------------- malloc


def test_child_env_fixes_the_mmap_threshold_unless_told_otherwise() -> None:
    env = memory.POLICY.child_env({})
    assert env["MALLOC_MMAP_THRESHOLD_"] == str(memory.MMAP_THRESHOLD) and env["MALLOC_ARENA_MAX"] == "2"
    assert memory.POLICY.child_env({"MALLOC_MMAP_THRESHOLD_": "65536"})["MALLOC_MMAP_THRESHOLD_"] == "65536"
    assert "MALLOC_MMAP_THRESHOLD_" not in memory.MemoryPolicy(mmap_threshold=None).child_env({})


_PROBE = """
import ctypes, sys
from tui.core import memory
class MI(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MI
if sys.argv[1] == "policy":
    assert memory.POLICY.prepare()
mapped = []
for _ in range(3):  # a 1 MB block, freed: glibc's own threshold then rises past it
    before = libc.mallinfo2().hblks
    block = bytearray(1 << 20)
    mapped.append(libc.mallinfo2().hblks - before)
    del block
print(mapped)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_prepare_keeps_large_blocks_in_their_own_mappings() -> None:
    try:
        ctypes.CDLL("libc.so.6").mallinfo2  # noqa: B018 - glibc 2.33+
    except (OSError, AttributeError):
        pytest.skip("not glibc 2.33+")

    def run(mode: str) -> list[int]:
        r = subprocess.run([sys.executable, "-c", _PROBE, mode], cwd=ROOT, capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin"}, timeout=60)
        assert r.returncode == 0, r.stderr
        return list(json.loads(r.stdout))

    assert run("glibc") == [1, 0, 0]  # glibc alone: only the first one is mapped, the others stay in the heap
    assert run("policy") == [1, 1, 1]  # the policy's: every one mapped, so each goes back when freed


# ------------------------------------------------------------------------------------------------- the GC hold


@pytest.fixture()
def _gc_as_found():
    import gc

    assert gc.isenabled()
    yield
    gc.unfreeze()
    gc.enable()


def test_a_decode_that_made_nothing_lasting_is_not_followed_by_a_freeze(_gc_as_found: None) -> None:
    """A refresh whose rows are the previous answer's objects: the hold must not freeze what the UI holds at that
    moment (it would keep what dies later in a cycle until the next refreeze)."""
    import gc

    p = memory.MemoryPolicy()
    before = gc.get_freeze_count()
    with p.hold() as h:
        made = [[i] for i in range(2000)]  # e.g. the UI's own objects, made meanwhile on another thread
        h.made = 0
    assert gc.isenabled() and gc.get_freeze_count() == before and made
    with p.hold() as h:
        h.made = p.freeze_min - 1
    assert gc.get_freeze_count() == before
    with p.hold() as outer:  # nested: one hold that made many is enough
        outer.made = 0
        with p.hold() as inner:
            new = [[i] for i in range(1000)]
            inner.made = p.freeze_min
        assert not gc.isenabled() and gc.get_freeze_count() == before
    assert gc.isenabled() and gc.get_freeze_count() >= before + len(new)
    gc.unfreeze()
    with p.hold():  # it cannot say: frozen, as any large decode
        new = [[i] for i in range(1000)]
    assert gc.get_freeze_count() >= len(new)
    assert memory.MemoryPolicy(freeze_min=5000).freeze_min == 5000 and memory.FREEZE_MIN == p.freeze_min


def test_the_reader_says_how_many_rows_a_message_made() -> None:
    """ProcessService._dispatch's count (memory.Hold.made): rows that are the previous answer's objects make none."""
    from tui.core.procservice import RowEncoder

    rows = _rows(100)
    ps = object.__new__(ProcessService)  # its reader's bookkeeping only: no child process
    ps._lock = threading.Lock()
    enc = RowEncoder()
    msgs = [(1, "rows", enc.encode(rows[a:a + 40])) for a in range(0, 100, 40)]
    for previous, made in ((None, [40, 40, 20]), (rows, [0, 0, 0]), (rows[:50], [0, 30, 20])):
        c = _Call()
        c.previous = previous
        ps._calls = {1: c}
        assert [ps._dispatch(msg) for msg in msgs] == made
        assert c.rows == rows
        assert ps._dispatch((1, "order", (("region", False), array("I", range(100))))) == 0
        assert ps._dispatch((1, "ok", None)) == 0 and c.future.result(1) is None
    ps._calls = {2: _Call()}
    assert ps._dispatch((2, "ok", ("token", b"snapshot"))) is None  # an answer it cannot size: frozen after


def test_a_refresh_decodes_its_strings_as_the_previous_tables_own() -> None:
    """RowDecoder(previous_table=): a string sent under the code the previous answer had for an equal string is
    that string (the new copy is let go); a different one, or one past the previous table, is the new one."""
    from tui.core.procservice import RowDecoder, RowEncoder

    rows = _rows(60)

    def decode(rows_: list[m.Recommendation], table: list[object] | None) -> RowDecoder:
        enc, dec = RowEncoder(), RowDecoder(previous_table=table)
        for a in range(0, len(rows_), 25):  # across the pipe: every string a new object here
            assert dec.decode(*pickle.loads(pickle.dumps(enc.encode(rows_[a:a + 25])))) == rows_[a:a + 25]
        return dec

    first = decode(rows, None).table
    again = decode(rows, first).table
    assert again == first and all(a is b for a, b in zip(again, first))
    changed = [replace(rows[0], title="Another title"), *rows[1:], _rec(999)]  # codes shift from the first row
    third = decode(changed, first).table
    assert "Another title" in third and third != first
    same_code = [(x, y) for x, y in zip(third, first) if x is not None and x == y]
    assert same_code and all(x is y for x, y in same_code)  # equal under the same code: the previous object
    assert all(x is not y for x, y in zip(third, first) if x != y)


def test_the_collector_gives_back_what_the_collection_left_before_saving_it() -> None:
    """Service.before_save runs between a collection and its saving (the collector process: memory.POLICY's
    idle_collect, as the history's JSON text of a large snapshot is a refresh's peak there); not without a save."""
    from tui.core import servicehost
    from tui.core.config import Settings
    from tui.core.service import Service

    calls: list[str] = []

    class History:
        error = None

        def save(self, snap: m.Snapshot) -> bool:
            calls.append("save")
            return True

    snap = _snapshot(2)
    for history, want in ((History(), ["before", "save"]), (None, [])):
        svc = Service(Settings(), history)  # type: ignore[arg-type]
        try:
            svc._call = lambda fn, timeout=None: snap  # type: ignore[method-assign]  # no sources: the snapshot
            svc.before_save = lambda: calls.append("before")
            calls.clear()
            assert svc.collect() is snap and calls == want
        finally:
            svc.close()
    assert "before_save = memory.POLICY.idle_collect" in Path(servicehost.__file__).read_text(encoding="utf-8")
