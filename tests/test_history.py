"""History store: latest snapshot round-trips (marked stale), aggregates per run, one transaction per save."""
from __future__ import annotations

import asyncio
import os
import pickle
import sqlite3
import stat
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from tests.test_collect import FakeAws, FakeAzure
from tui.core import codec
from tui.core import model as m
from tui.core.collect import Collector
from tui.core.history import SCHEMA_VERSION, History, Scope


def test_latest_round_trip_marked_stale(tmp_path) -> None:
    snap = asyncio.run(Collector(FakeAzure(), FakeAws()).collect())
    h = History.in_dir(tmp_path)
    assert h.latest() is None
    h.save(snap)
    back = h.latest()
    assert back is not None
    assert back.generated_at == snap.generated_at
    assert {s.status.status for s in back.sections.values()} == {"stale"}
    assert back.data("connectors") == snap.data("connectors")
    assert back.sections["compliance"].status.as_of == snap.sections["compliance"].status.as_of
    h.close()
    # WAL mode on disk
    assert sqlite3.connect(tmp_path / "history.sqlite3").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_trend_points_only_from_fresh_sections(tmp_path) -> None:
    az = FakeAzure()
    col = Collector(az, FakeAws())
    h = History.in_dir(tmp_path)
    s1 = asyncio.run(col.collect())
    h.save(s1)
    from tui.core.errors import SourceError

    az.fail["compliance"] = SourceError("throttled")
    s2 = asyncio.run(col.collect())
    s2 = s2.__class__(s2.generated_at + timedelta(seconds=1), s2.subscriptions, s2.sections, s2.tenant_id)
    h.save(s2)
    pts = h.trend("compliance_pct", "AWS-CIS-1.2.0")
    assert len(pts) == 1 and abs(pts[0][1] - 66.7) < 0.1  # 10 passed of 15 assessed
    assert len(h.trend("unhealthy", "111111111111")) == 2
    assert h.runs() == 2


def test_corrupt_payload_is_ignored(tmp_path) -> None:
    h = History.in_dir(tmp_path)
    h._db.execute("INSERT INTO latest(tenant, endpoint, subs, saved_at, generated_at, payload) "
                  "VALUES ('t', 'https://management.azure.com', '*', 'x', 'x', '{\"$c\": 1')")
    assert h.latest() is None


def test_cached_view_only_while_it_shows_the_latest_snapshot(tmp_path) -> None:
    snap = asyncio.run(Collector(FakeAzure(), FakeAws()).collect())
    h = History.in_dir(tmp_path)
    assert h.latest_view("panes-1") is None
    h.save_view(snap.generated_at, "panes-1", "v1")
    assert h.latest_view("panes-1") is None  # its snapshot is not the latest (there is none yet)
    h.save(snap)
    assert h.latest_view("panes-1") is None  # saved before its snapshot: of no known scope
    h.save_view(snap.generated_at, "panes-1", "v1")
    assert h.latest_view("panes-1") == "v1"
    assert h.latest_view("panes-2") is None  # another front-end version's format
    newer = replace(snap, generated_at=snap.generated_at + timedelta(seconds=1))
    h.save(newer)  # e.g. `mdc-aws snapshot` from cron: the view now shows an older snapshot
    assert h.latest_view("panes-1") is None
    h.save_view(newer.generated_at.astimezone(timezone(timedelta(hours=2))), "panes-1", "v2")  # same instant
    assert h.latest_view("panes-1") == "v2"
    h.close()
    assert History.in_dir(tmp_path).latest_view("panes-1") == "v2"  # on disk


# ------------------------------------------------------------------------------------------------- plain data only


class _Boom:
    """A pickle that runs code when read: what a planted history would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _snap(n: int = 0, tenant: str | None = "tenant-a", subs: tuple[str, ...] = ("s1",)) -> m.Snapshot:
    from datetime import datetime

    # yesterday at midnight (trends keep 90 days; the same in a writer process started a moment later)
    day = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    t = day + timedelta(seconds=n)
    std = m.ComplianceStandard(f"STD-{tenant}", 10 + n, 5, 0)
    secs = {
        "connectors": m.Section(m.SectionStatus("connectors", "ok", t), m.ConnectorsData(
            (m.Connector(id=f"/c/{tenant}", name="c", kind="native", subscription_id="s1", resource_group="rg",
                         aws_account_id="111111111111", regions=("us-east-1",), offerings=(m.Offering("X", {"a": 1}),),
                         raw={"properties": {"$weird": [1, 2]}, "n": None}),))),
        "compliance": m.Section(m.SectionStatus("compliance", "ok", t), m.ComplianceData((std,))),
        "plans": m.Section(m.SectionStatus("plans", "error", None, "boom"), None),
    }
    return m.Snapshot(t, subs, secs, tenant)


def test_codec_round_trips_the_model_and_refuses_anything_else() -> None:
    snap = asyncio.run(Collector(FakeAzure(), FakeAws()).collect())
    back = codec.loads(codec.dumps(snap), codec.model_classes())
    assert back == snap and back.data("connectors").connectors[0].raw == snap.data("connectors").connectors[0].raw
    s = _snap()
    assert codec.loads(codec.dumps(s), codec.model_classes()) == s
    for hostile in ('{"$c": "system"}', '{"$c": "Snapshot", "nope": 1}', '{"$x": ["t", 1]}',
                    '{"$reduce": ["os.system", "id"]}', '{"$c": "Section", "__class__": 1}',
                    '{"$c": ["os", "system"]}'):
        with pytest.raises(ValueError):
            codec.loads(hostile, codec.model_classes())
    assert codec.loads('{"a": 1, "$c": "system"}') == {"a": 1, "$c": "system"}  # a tag only counts first: data
    with pytest.raises(TypeError):
        codec.dumps(object())


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
plain = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.tuples(c, c) |
                     st.dictionaries(st.text(max_size=6), c, max_size=4) |
                     st.dictionaries(st.integers() | st.tuples(st.integers()), c, max_size=3), max_leaves=20)


@hsettings(max_examples=200, deadline=None)
@given(plain)
def test_codec_round_trips_plain_data(value) -> None:
    assert codec.loads(codec.dumps(value)) == value


def test_a_hostile_pickle_from_an_old_history_never_runs(tmp_path, caplog) -> None:
    marker = tmp_path / "pwned"
    db = tmp_path / "history.sqlite3"
    con = sqlite3.connect(db)  # schema 1 (user_version 0) as planted: pickles in every payload
    con.executescript("CREATE TABLE latest (slot INTEGER PRIMARY KEY, format INTEGER, generated_at TEXT, payload BLOB);"
                      "CREATE TABLE views (slot INTEGER PRIMARY KEY, format TEXT, generated_at TEXT, payload BLOB);"
                      "CREATE TABLE aggregates (run_at TEXT, kind TEXT, key TEXT, value REAL);")
    payload = pickle.dumps(_Boom(marker))
    con.execute("INSERT INTO latest VALUES (1, 1, '2024-01-01T00:00:00+00:00', ?)", (payload,))
    con.execute("INSERT INTO views VALUES (1, 'panes-2', '2024-01-01T00:00:00+00:00', ?)", (payload,))
    con.commit()
    con.close()
    h = History.in_dir(tmp_path)
    assert h.error is None and h.notice is not None and "older" in h.notice  # rebuilt, with a message
    assert h.latest() is None and h.latest_view("panes-2") is None
    assert not marker.exists()
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # and a pickle planted into the current schema is just an unreadable row
    h._db.execute("INSERT INTO latest VALUES ('t', ?, '*', 'z', 'x', ?)", (h.scope.endpoint, payload))
    h._db.execute("INSERT INTO views VALUES ('t', ?, '*', 'panes-2', 'x', ?)", (h.scope.endpoint, payload))
    assert h.latest() is None and h.latest_view("panes-2") is None
    from tui.render.cache import text_from_plain as _text_from_plain

    with pytest.raises((ValueError, UnicodeDecodeError)):
        codec.loads(payload, ext={"text": _text_from_plain})  # what _show_cached_view would do with it
    assert not marker.exists()


def test_the_data_dir_is_private_and_files_0600(tmp_path) -> None:
    folder = tmp_path / "a" / "data"
    h = History.in_dir(folder)
    h.save(_snap())
    h.save_view(_snap().generated_at, "v", "{}")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder.parent).st_mode) == 0o700  # the data dir the scope folder is in: ours too
    names = sorted(p.name for p in folder.iterdir())
    assert "history.sqlite3-wal" in names
    for p in folder.iterdir():
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p
    h.close()
    os.chmod(folder, 0o777)  # ours but open to everyone: tightened
    os.chmod(folder / "history.sqlite3", 0o666)
    h = History.in_dir(folder)
    assert h.error is None and h.latest() is not None
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / "history.sqlite3").st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="planting a file of another user needs root (chown)")
def test_a_history_of_another_user_is_not_used(tmp_path) -> None:
    marker = tmp_path / "pwned"
    folder = tmp_path / "data"
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)  # group/world-writable: anyone could plant here
    db = folder / "history.sqlite3"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE latest (slot INTEGER PRIMARY KEY, payload BLOB)")
    con.execute("INSERT INTO latest VALUES (1, ?)", (pickle.dumps(_Boom(marker)),))
    con.commit()
    con.close()
    os.chown(db, 65534, 65534)  # nobody's
    h = History.in_dir(folder)
    assert h.error is not None and "another user" in h.error and str(db) in h.error
    assert not h.enabled and h.latest() is None and h.latest_view("x") is None and h.trend("k", "k") == []
    assert h.save(_snap()) is False  # disabled: nothing written, nothing raised
    assert not marker.exists() and os.stat(db).st_uid == 65534
    other = tmp_path / "theirs"
    other.mkdir()
    os.chown(other, 65534, 65534)
    h2 = History.in_dir(other)
    assert h2.error is not None and "another user" in h2.error and not h2.enabled


def test_a_history_that_cannot_be_written_is_disabled_with_a_message(tmp_path) -> None:
    from tui.core.service import Service

    h = History.in_dir(tmp_path)
    h._db.close()
    h._db = sqlite3.connect(f"file:{h.path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
    svc = Service.__new__(Service)  # only collect's saving: no sources
    svc.history = h
    assert h.save(_snap()) is False
    assert h.error is not None and "could not be written" in h.error and not h.enabled
    assert svc.history_error == h.error
    assert h.save(_snap(1)) is False and h.latest() is None  # disabled, never raised


def test_a_file_that_is_not_a_database_is_set_aside(tmp_path) -> None:
    (tmp_path / "history.sqlite3").write_bytes(b"garbage " * 512)
    h = History.in_dir(tmp_path)
    assert h.enabled and h.notice is not None and "set aside" in h.notice
    assert h.save(_snap()) and h.latest() is not None
    assert any(p.name.startswith("history.sqlite3.unreadable-") for p in tmp_path.iterdir())


def test_a_history_from_a_newer_version_is_left_alone(tmp_path) -> None:
    con = sqlite3.connect(tmp_path / "history.sqlite3")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    h = History.in_dir(tmp_path)
    assert not h.enabled and "newer" in (h.error or "")


# ------------------------------------------------------------------------------------------------- scopes


def test_scopes_and_tenants_keep_their_own_latest_view_and_trends(tmp_path) -> None:
    a = History.in_dir(tmp_path, Scope(subscriptions=("S1",)))
    b = History.in_dir(tmp_path, Scope(subscriptions=("s2", "s3")))
    a.save(_snap(0, "tenant-a"))
    b.save(_snap(5, "tenant-b"))
    a.save_view(_snap(0, "tenant-a").generated_at, "v", '"a"')
    b.save_view(_snap(5, "tenant-b").generated_at, "v", '"b"')
    assert a.latest().tenant_id == "tenant-a" and b.latest().tenant_id == "tenant-b"
    assert a.latest_view("v") == '"a"' and b.latest_view("v") == '"b"'
    assert [v for _, v in a.trend("compliance_pct", "STD-tenant-a")] and not a.trend("compliance_pct", "STD-tenant-b")
    assert History.in_dir(tmp_path, Scope(subscriptions=("s1",))).latest().tenant_id == "tenant-a"  # case-blind
    assert History.in_dir(tmp_path).latest() is None  # every subscription: another scope
    assert History.in_dir(tmp_path, Scope("https://other.example")).latest() is None  # another endpoint
    # the same endpoint and subscriptions, another tenant: its own row; the newest stands for an unknown tenant
    a.save(_snap(9, "tenant-c"))
    assert History.in_dir(tmp_path, Scope(subscriptions=("s1",), tenant="tenant-a")).latest().generated_at == \
        _snap(0).generated_at
    assert History.in_dir(tmp_path, Scope(subscriptions=("s1",))).latest().tenant_id == "tenant-c"
    assert a.trend("compliance_pct", "STD-tenant-a", tenant="tenant-a")
    assert not a.trend("compliance_pct", "STD-tenant-a", tenant="tenant-c")


_WRITER = r"""
import sys, time
from datetime import datetime, timedelta, timezone
sys.path.insert(0, {tests!r})
from tui.core.history import History, Scope
from test_history import _snap
h = History.in_dir(sys.argv[1], Scope(subscriptions=(sys.argv[2],)))
for n in range(int(sys.argv[3])):
    assert h.save(_snap(n, sys.argv[2]))
    print(n, flush=True)
"""


def _writer(folder: Path, name: str, n: int) -> subprocess.Popen[str]:
    code = _WRITER.format(tests=str(Path(__file__).parent))
    return subprocess.Popen([sys.executable, "-P", "-c", code, str(folder), name, str(n)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_dashboards_on_one_data_dir_neither_corrupt_nor_mix(tmp_path) -> None:
    procs = [_writer(tmp_path, name, 60) for name in ("ta", "tb")]  # two writers at once, one file
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    for name in ("ta", "tb"):
        h = History.in_dir(tmp_path, Scope(subscriptions=(name,)))
        snap = h.latest()
        assert snap is not None and snap.tenant_id == name and snap.generated_at == _snap(59).generated_at
        assert len(h.trend("compliance_pct", f"STD-{name}")) == 60
        assert not h.trend("compliance_pct", f"STD-{'tb' if name == 'ta' else 'ta'}")
        assert h.runs() == 60
    assert sqlite3.connect(tmp_path / "history.sqlite3").execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_kill_9_during_writes_leaves_the_last_committed_snapshot(tmp_path) -> None:
    import random

    rnd = random.Random(7)
    t0 = time.monotonic()
    for round_ in range(50):
        p = _writer(tmp_path, "k", 100000)
        assert p.stdout is not None
        first = p.stdout.readline()  # one committed: then kill it at a random point of the next writes
        assert first, p.stderr.read() if p.stderr else ""
        time.sleep(rnd.uniform(0, 0.08))
        p.kill()
        rest = p.stdout.read()
        p.wait()
        done = [int(x) for x in (first + rest).split()]
        h = History.in_dir(tmp_path, Scope(subscriptions=("k",)))
        assert h.enabled, h.error
        snap = h.latest()
        assert snap is not None, f"round {round_}: no snapshot"
        # the last one reported committed, or the one after it (killed between COMMIT and the print)
        assert snap.generated_at in (_snap(done[-1]).generated_at, _snap(done[-1] + 1).generated_at), round_
        assert snap.data("compliance") == _snap(int((snap.generated_at - _snap(0).generated_at).total_seconds()),
                                                "k").data("compliance")
        h.close()
    assert time.monotonic() - t0 < 60
    assert sqlite3.connect(tmp_path / "history.sqlite3").execute("PRAGMA integrity_check").fetchone()[0] == "ok"
