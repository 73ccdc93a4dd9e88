"""The data service in its own process (tui.core.procservice + tui.core.servicehost), what the dashboard uses.

Against the emulated estate over real sockets: the same answers as the in-process Service (rows, orders,
snapshot), errors with their message, a child that dies or hangs, closing. Plus the wire format: framing, and the
row encoding round trip (hypothesis), including the reuse of a previous answer's objects.
"""
from __future__ import annotations

import io
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from dataclasses import fields, is_dataclass, replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from tui.core import memory
from tui.core import model as m
from tui.core import rectable
from tui.core.errors import AuthError, SourceError, UsageError
from tui.core.procservice import (ProcessService, RowDecoder, RowEncoder, decode_snapshot, encode_snapshot, read_msg,
                                  rebuild_error, write_msg)
from tui.core.service import Service
from tui.emulator.faults import FaultRule

# ------------------------------------------------------------------------------------------------- wire format


def test_framing_round_trip_and_truncation() -> None:
    buf = io.BytesIO()
    write_msg(buf, ("a", 1, [None, "x" * 1000]))
    write_msg(buf, {"b": b"\x00\x01"})
    data = buf.getvalue()
    r = io.BytesIO(data)
    assert read_msg(r) == ("a", 1, [None, "x" * 1000])
    assert read_msg(r) == {"b": b"\x00\x01"}
    with pytest.raises(EOFError):
        read_msg(r)
    cut = io.BytesIO(data[:-3])  # the second message cut short (the child died while writing it)
    assert read_msg(cut) == ("a", 1, [None, "x" * 1000])
    with pytest.raises(EOFError):
        read_msg(cut)


text = st.text(max_size=40)
opt = st.none() | st.sampled_from(["us-east-1", "eu-west-1", "global"]) | text
recs = st.builds(
    m.Recommendation,
    id=text, assessment_key=st.sampled_from(["k1", "k2", "k3"]) | text, title=text,
    severity=st.sampled_from(["High", "Medium", "Low", "Unknown"]),
    status=st.sampled_from(["Healthy", "Unhealthy", "NotApplicable"]), connector_id=text,
    resource_name=opt, resource_type=opt, region=opt, aws_account_id=opt, description=opt, remediation=opt)


@hsettings(max_examples=150, deadline=None)
@given(st.lists(recs, max_size=60), st.integers(min_value=1, max_value=25))
def test_rows_survive_encoding_in_any_chunking(rows: list[m.Recommendation], chunk: int) -> None:
    enc, dec = RowEncoder(), RowDecoder()
    out: list[m.Recommendation] = []
    for a in range(0, len(rows), chunk):
        new, packed = enc.encode(rows[a:a + chunk])
        new, packed = pickle.loads(pickle.dumps((new, packed)))  # as it crosses the pipe
        out += dec.decode(new, packed)
    assert out == rows
    # a repeated value arrives once: equal strings of coded fields are one object
    by_title: dict[str, int] = {}
    for r in out:
        by_title.setdefault(r.title, id(r.title))
        assert id(r.title) == by_title[r.title]


@hsettings(max_examples=100, deadline=None)
@given(st.lists(recs, min_size=1, max_size=40, unique_by=lambda r: r.id), st.data())
def test_previous_objects_are_reused_only_when_equal(rows: list[m.Recommendation], data: st.DataObject) -> None:
    changed = data.draw(st.sets(st.integers(min_value=0, max_value=len(rows) - 1)))
    again = [replace(r, title=r.title + "!") if i in changed else r for i, r in enumerate(rows)]
    enc = RowEncoder()
    dec = RowDecoder(previous=rows)
    out = dec.decode(*enc.encode(again))
    assert out == again
    for i, (old, new) in enumerate(zip(rows, out)):
        assert (new is old) == (i not in changed)
    assert dec.reused == len(rows) - len(changed)


def test_errors_keep_their_kind_and_message() -> None:
    for cls in (SourceError, AuthError, UsageError, TimeoutError, ValueError):
        e = rebuild_error(cls.__name__, "what happened")
        assert type(e) is cls and str(e) == "what happened"
    e = rebuild_error("SomeLibraryError", "boom")
    assert isinstance(e, SourceError) and str(e) == "boom"


# ------------------------------------------------------------------------------------------------- snapshots


def _deep(x: object) -> object:
    """Everything a snapshot holds, compare=False fields and time zones included (what the dashboard can show)."""
    if is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__,) + tuple((f.name, _deep(getattr(x, f.name))) for f in fields(x))
    if isinstance(x, (tuple, list)):
        return (type(x).__name__,) + tuple(_deep(v) for v in x)
    if isinstance(x, dict):
        return ("dict",) + tuple((k, _deep(v)) for k, v in x.items())
    if isinstance(x, datetime):
        return ("datetime", x.isoformat())
    return (type(x).__name__, x)


def _snapshot(at: datetime, connectors: tuple[m.Connector, ...], arcs: tuple[m.ArcMachine, ...],
              inventories: dict[str, m.AwsAccountInventory]) -> m.Snapshot:
    return m.Snapshot(at, ("sub-1",), {
        "connectors": m.Section(m.SectionStatus("connectors", "ok", at), m.ConnectorsData(connectors)),
        "onboarding": m.Section(m.SectionStatus("onboarding", "ok", at), m.OnboardingData(arcs, inventories)),
        "compliance": m.Section(m.SectionStatus("compliance", "error", None, "boom"), None)})


def test_a_snapshot_is_sent_as_what_changed_and_read_back_whole() -> None:
    t0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    conns = tuple(m.Connector(f"/c/{i}", f"c{i}", "native", "sub-1", "rg", f"{i:012d}", raw={"properties": {"n": i}})
                  for i in range(4))
    arcs = tuple(m.ArcMachine(f"/m/{i}", f"i-{i}", "sub-1", "rg", "Connected", "000000000001", f"i-{i}")
                 for i in range(5))
    ssm = tuple(m.SsmInstance("000000000001", "us-east-1", f"i-{i}", "Online", last_ping=t0) for i in range(3))
    inv = {"000000000001": m.AwsAccountInventory("000000000001", True, ssm=ssm),
           "000000000002": m.AwsAccountInventory("000000000002", False, error="denied")}
    held = _snapshot(t0, conns, arcs, inv)
    # the parent's copy, as it came over the pipe the first time
    token, data = encode_snapshot(held, None)
    parent = decode_snapshot(token, data, None)
    assert _deep(parent) == _deep(held)

    t1 = t0 + timedelta(minutes=1)
    conns2 = conns[:2] + (replace(conns[2], raw={"properties": {"n": "changed"}}),) + conns[3:]  # compare=False field
    arcs2 = (m.ArcMachine("/m/new", "i-new", "sub-1", "rg", "Connected", None, "i-new"),) + arcs  # one added first
    ssm2 = (replace(ssm[0], last_ping=t0.astimezone(timezone(timedelta(hours=2)))),) + ssm[1:]  # same instant, new tz
    inv2 = dict(inv, **{"000000000001": replace(inv["000000000001"], ssm=ssm2)})
    new = _snapshot(t1, conns2, arcs2, inv2)
    token, data = encode_snapshot(new, held)
    got = decode_snapshot(token, data, parent)
    assert _deep(got) == _deep(new)
    assert len(data) < len(pickle.dumps(new, protocol=pickle.HIGHEST_PROTOCOL))
    # what did not change is the parent's own objects; what did (even where == cannot see it) is new
    pc, gc_ = parent.data("connectors").connectors, got.data("connectors").connectors
    assert [a is b for a, b in zip(gc_, pc)] == [True, True, False, True]
    assert gc_[2].raw == {"properties": {"n": "changed"}}
    assert all(a is b for a, b in zip(got.data("onboarding").arc_machines[1:], parent.data("onboarding").arc_machines))
    gi, pi = got.data("onboarding").aws, parent.data("onboarding").aws
    assert gi["000000000002"] is pi["000000000002"]
    assert gi["000000000001"].ssm[0] is not pi["000000000001"].ssm[0]
    assert gi["000000000001"].ssm[0].last_ping.utcoffset() == timedelta(hours=2)
    assert all(a is b for a, b in zip(gi["000000000001"].ssm[1:], pi["000000000001"].ssm[1:]))
    assert got.sections["compliance"] is parent.sections["compliance"]  # equal all through: the parent's own
    # sent against a snapshot the parent does not hold: refused, never read against the wrong one
    with pytest.raises(ValueError):
        decode_snapshot(token, data, got)
    with pytest.raises(ValueError):
        decode_snapshot(token, data, None)


# ------------------------------------------------------------------------------------------------- on the estate


def test_same_answers_as_the_in_process_service(estate, settings, tmp_path) -> None:
    from tui.core.history import History

    ps = ProcessService(settings, History.in_dir(tmp_path), section_timeout_s=60)
    svc = Service(settings)
    try:
        assert ps.pid not in (None, os.getpid())
        snap_p, snap_s = ps.collect(), svc.collect()
        assert snap_p.complete and snap_s.complete
        for name in m.SECTION_NAMES:
            assert snap_p.data(name) == snap_s.data(name), name
        # the child saved the history the next start opens on
        latest = History.in_dir(tmp_path).latest()
        assert latest is not None and latest.data("connectors") == snap_p.data("connectors")

        tp, ts = ps.recommendation_table(), svc.recommendation_table()
        assert len(tp.rows) > 1000 and tp.rows == ts.rows
        assert {k: list(v) for k, v in tp.orders.items()} == {k: list(v) for k, v in ts.orders.items()}
        # orders computed in the child are what the pane would compute itself, for every column and direction
        local = rectable.make_index(tp.rows)
        for (name, desc), order in tp.orders.items():
            assert list(order) == list(local.order(rectable.SORT_KEYS[name], desc)), (name, desc)
        # accounts attached in the child as the app would
        assert sum(1 for r in tp.rows if r.aws_account_id) == sum(1 for r in ts.rows if r.aws_account_id)

        # a second answer reuses the first one's objects (nothing changed in between)
        tp2 = ps.recommendation_table()
        assert ps.last_reused == len(tp.rows) and all(a is b for a, b in zip(tp.rows, tp2.rows))

        std = snap_p.data("compliance").standards[0].name
        controls = ps.compliance_controls(std)
        assert controls == svc.compliance_controls(std) and controls
        failed = next(c for c in controls if c.state == "Failed")
        assert ps.compliance_failing_keys(std, failed.name) == svc.compliance_failing_keys(std, failed.name)
        assert ps.recommendations() == svc.recommendations()
    finally:
        ps.close()
        svc.close()


def test_a_big_child_is_retired_once_idle_and_nothing_is_lost(estate, settings, tmp_path, caplog) -> None:
    from tui.core.history import History

    caplog.set_level(logging.INFO, logger="tui.core.procservice")
    ps = ProcessService(settings, History.in_dir(tmp_path), section_timeout_s=60, max_child_mb=1)  # all are big
    try:
        first = ps.pid
        snap = ps.collect()
        assert _until(lambda: ps.pid is None)  # retired once it had nothing to do...
        assert _gone(first) and ps.retired == 1 and ps.starts == 1
        assert _until(lambda: ps.pids == [])  # counted among the collector's processes until it is gone
        latest = History.in_dir(tmp_path).latest()  # ...with its collection saved
        assert latest is not None and latest.generated_at == snap.generated_at

        # the next call starts a fresh child, from the snapshot held here: what did not change is still ours
        snap2 = ps.collect()
        assert ps.starts == 2 and snap2.complete and snap2.generated_at > snap.generated_at
        assert snap2.data("connectors") is snap.data("connectors")
        assert snap2.data("onboarding") is snap.data("onboarding")

        # calls back to back and at once: a retirement never takes one down with it
        errs: list[BaseException] = []
        tables: list[rectable.RecTable] = []
        t = threading.Thread(target=lambda: _catch(errs, lambda: tables.append(ps.recommendation_table())))
        t.start()
        ps.collect()
        t.join(60)
        std = snap.data("compliance").standards[0].name
        controls = [ps.compliance_controls(std) for _ in range(4)]
        assert not errs and len(tables[0].rows) > 1000 and all(c == controls[0] and c for c in controls)
        assert _until(lambda: ps.pid is None) and ps.retired >= 2  # retired again once idle
    finally:
        ps.close()
    problems = [r.getMessage() for r in caplog.records
                if r.name == "tui.core.procservice" and r.levelno >= logging.WARNING]
    assert problems == []


def test_a_child_under_the_limit_stays_and_sends_only_what_changed(estate, settings) -> None:
    ps = ProcessService(settings, section_timeout_s=60, max_child_mb=None)
    svc = Service(settings)
    try:
        snap, again = ps.collect(), ps.collect()
        local = svc.collect()
        assert ps.starts == 1 and ps.retired == 0
        assert again.generated_at > snap.generated_at and again.complete
        for name in m.SECTION_NAMES:  # what a collection in this process reads, as the previous answer's objects
            assert again.data(name) == local.data(name), name
            assert again.data(name) is snap.data(name), name
        assert again.sections["connectors"].status.as_of > snap.sections["connectors"].status.as_of
    finally:
        ps.close()
        svc.close()


def test_the_size_limit_is_the_memory_policys_unless_given(settings, monkeypatch) -> None:
    monkeypatch.setattr(memory.POLICY, "max_child_mb", 77.0)
    ps = ProcessService(settings)
    try:
        assert ps.max_child_mb == 77.0
        ps._maybe_retire(ps._proc, 77.0)  # at the limit: stays
        assert ps.retired == 0 and ps.pid is not None
    finally:
        ps.close()


def test_a_failing_call_raises_the_cores_error_and_the_service_goes_on(estate, settings, clean_faults) -> None:
    ps = ProcessService(settings, section_timeout_s=30, max_child_mb=None)  # starts counted: no retiring
    try:
        ps.collect()
        estate.arm.faults.add(FaultRule(path_regex="Microsoft.ResourceGraph", kind="500"))
        with pytest.raises(SourceError) as ei:
            ps.recommendation_table()
        assert "500" in str(ei.value) or "server" in str(ei.value).lower()
        assert "Traceback" not in str(ei.value)
        estate.arm.faults.clear()
        assert len(ps.recommendation_table().rows) > 1000  # same child, next call fine
        assert ps.starts == 1
    finally:
        ps.close()


def test_a_child_that_dies_fails_the_call_clearly_and_is_started_again(estate, settings, clean_faults) -> None:
    ps = ProcessService(settings, section_timeout_s=30, max_child_mb=None)  # starts counted: no retiring
    try:
        snap = ps.collect()
        estate.arm.faults.add(FaultRule(path_regex="Microsoft.ResourceGraph", kind="latency", latency_ms=3000))
        errs: list[BaseException] = []
        t = threading.Thread(target=lambda: _catch(errs, ps.recommendation_table))
        t.start()
        time.sleep(1.0)
        os.kill(ps.pid, signal.SIGKILL)
        t.join(20)
        assert not t.is_alive()
        assert len(errs) == 1 and isinstance(errs[0], SourceError)
        msg = str(errs[0])
        assert "collector process stopped" in msg and "next refresh" in msg
        estate.arm.faults.clear()
        # the next call starts a new child, seeded with the last snapshot
        assert len(ps.recommendation_table().rows) > 1000
        assert ps.starts == 2
        assert ps.last_snapshot is snap
    finally:
        ps.close()


def test_a_child_that_stops_answering_is_restarted(estate, settings, clean_faults) -> None:
    ps = ProcessService(settings, section_timeout_s=30, max_child_mb=None)  # starts counted: no retiring
    try:
        ps.collect()
        ps.call_timeout_s = 2
        estate.arm.faults.add(FaultRule(path_regex="Microsoft.ResourceGraph", kind="latency", latency_ms=6000))
        first = ps.pid
        with pytest.raises(SourceError, match="did not answer in 2 s"):
            ps.recommendations()
        estate.arm.faults.clear()
        for _ in range(50):
            if ps.pid is None:
                break
            time.sleep(0.1)
        assert _gone(first)
        ps.call_timeout_s = 60
        assert len(ps.recommendations()) > 1000 and ps.starts == 2
    finally:
        ps.close()


def test_a_child_that_cannot_start_says_so(settings) -> None:
    with pytest.raises(OSError):  # no interpreter: Popen raises at once, the app shows it in every pane
        ProcessService(settings, python="/nonexistent/python3")
    ps = ProcessService(settings, python="/bin/false")
    try:
        with pytest.raises(SourceError, match=r"collector process (stopped|is not running)"):
            ps.collect()
    finally:
        ps.close()


def test_close_ends_the_child_and_a_closed_pipe_too(settings) -> None:
    ps = ProcessService(settings)
    pid = ps.pid
    ps.close()
    assert _gone(pid)
    with pytest.raises(SourceError, match="closed"):
        ps.collect()
    # the dashboard dying closes the pipe: the child exits by itself
    p = subprocess.Popen([sys.executable, "-P", "-m", "tui.core.servicehost"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    write_msg(p.stdin, ("init", settings, None, 10.0, None))
    p.stdin.close()
    assert p.wait(20) == 0
    assert p.stdout.read() == b""  # nothing but the protocol ever goes to stdout


def _catch(errs: list[BaseException], fn) -> None:
    try:
        fn()
    except BaseException as e:  # noqa: BLE001
        errs.append(e)


def _until(cond, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def _gone(pid: int | None) -> bool:
    for _ in range(100):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split()[2] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


# ------------------------------------------------------------------------------------------------- survival


def test_any_exception_in_the_reader_restarts_the_child_with_one_line(caplog) -> None:
    from tui.core.config import Settings

    ps = ProcessService(Settings(), max_child_mb=None)
    real = ps._dispatch
    boom = [True]

    def dispatch(msg, proc=None):  # the first answer breaks the reader (as a bug in decoding would)
        if msg[1] != "idle" and boom and boom.pop():
            raise KeyError("injected\nsecond line")
        return real(msg, proc)

    ps._dispatch = dispatch  # type: ignore[method-assign]
    try:
        first = ps.pid
        with caplog.at_level(logging.WARNING, logger="tui.core.procservice"):
            with pytest.raises(SourceError) as ei:
                ps._wait(ps._request("no_such_method"), 30)
        msg = str(ei.value)
        assert "could not be read" in msg and "KeyError" in msg and "restarted" in msg and "\n" not in msg
        assert _gone(first)
        assert ps.reader_failures == 1
        assert any("restarting the collector" in r.getMessage() for r in caplog.records)
        # the next call gets a fresh child with a working reader
        with pytest.raises(ValueError, match="unknown method"):
            ps._wait(ps._request("no_such_method"), 30)
        assert ps.starts == 2 and ps.pid != first
    finally:
        ps.close()


def test_a_history_the_collector_cannot_open_disables_it_with_a_message(tmp_path) -> None:
    from types import SimpleNamespace

    from tui.core.config import Settings

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    # the parent thinks it fine; the child cannot open it (its folder is a file)
    fake = SimpleNamespace(path=blocker / "history.sqlite3", scope=None, error=None)
    ps = ProcessService(Settings(), fake, max_child_mb=None)
    try:
        with pytest.raises(ValueError, match="unknown method"):  # the collector is up and answers
            ps._wait(ps._request("no_such_method"), 30)
        deadline = time.monotonic() + 10
        while ps.history_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ps.history_error is not None and "history disabled" in ps.history_error
        assert str(blocker) in ps.history_error and ps.starts == 1
    finally:
        ps.close()


# ------------------------------------------------------------------------------------------------- the log file

def test_the_collectors_log_lines_reach_the_log_file_redacted(tmp_path, monkeypatch) -> None:
    """What the collector process logs goes to the dashboard's log file (review finding 2), written by the child
    itself (its pid on the line) through its redacting filter: a registered secret and a bearer token never reach
    the file. Its own lines are not repeated on its stderr (what the parent quotes when it dies)."""
    from tui.core import logfile, redact
    from tui.core.config import Settings

    secret = "Proc-test-AzureClientSecret-5e6f7a8b"  # a test value, in the environment the child inherits
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwcm9jLXRlc3QifQ.c2lnbmF0dXJlLXByb2M"  # the shape of a JWT (a test value)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", secret)
    path = tmp_path / "logs" / "mdc-aws.log"
    fh, problem = logfile.open_handler(path, logging.INFO)  # as tui.cli._setup_logging opens it (no -vv)
    assert fh is not None and problem is None
    root = logging.getLogger()
    saved = root.handlers[:]
    # this process's log file is this one (an earlier in-process CLI test of the worker may have left its own)
    root.handlers[:] = [h for h in saved if not isinstance(h, logfile.PrivateRotatingFileHandler)] + [fh]
    redact.install([fh])
    ps = ProcessService(Settings(), max_child_mb=None)
    try:
        with pytest.raises(ValueError, match="unknown method"):
            ps._wait(ps._request(f"no_such_method {secret} Bearer {jwt}"), 30)
        pid = ps.pid
        assert _until(lambda: "no_such_method" in path.read_text(encoding="utf-8"))
        text = path.read_text(encoding="utf-8")
        line = next(ln for ln in text.splitlines() if "no_such_method" in ln)
        assert f" {pid} WARNING tui.core.servicehost: no_such_method " in line, line
        assert "unknown method" in line and redact.MASK in line, line
        assert secret not in text and jwt not in text
        assert not any("no_such_method" in ln for ln in ps._stderr_tail)
    finally:
        ps.close()
        root.handlers[:] = saved
        fh.close()
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_a_failed_section_is_logged_once_while_it_stays_the_same(caplog) -> None:
    from types import SimpleNamespace

    from tui.core import servicehost

    def snap(**errors: str | None) -> SimpleNamespace:
        return SimpleNamespace(sections={
            name: SimpleNamespace(status=SimpleNamespace(status="stale" if e else "ok", error=e))
            for name, e in errors.items()})

    first = snap(plans="HTTP 429 throttled", connectors=None)
    with caplog.at_level(logging.WARNING, logger="tui.core.servicehost"):
        servicehost._log_sections(first, None)
        servicehost._log_sections(snap(plans="HTTP 429 throttled", connectors=None), first)  # the same: not again
        servicehost._log_sections(snap(plans="HTTP 503", connectors="timed out"), first)
    assert [r.getMessage() for r in caplog.records] == [
        "section plans stale: HTTP 429 throttled", "section plans stale: HTTP 503",
        "section connectors stale: timed out"]
