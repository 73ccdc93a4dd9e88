"""Filter and sort over ~100k recommendations in the real RecommendationsPane, end to end: one child process.

``python -m benchmarks.panebench (--recs PICKLE | --synthetic N) --out FILE [--iterations 10]``

The real MdcApp (headless 80x24, ``App.run_test``) with a service that answers at once: the rows arrive through
the app's own path (``_recs_job``: attach accounts, build and prepare the Index in the worker; ``on_recs_loaded``
on the UI loop). Then, on the recommendations pane, each of these is timed from the call (or key post) to the end
of the first frame composed after the pane re-rendered its rows:

- ``apply_filter("sev:high s3")``, ``apply_filter("!sev:low")`` (what typing in the filter box calls);
- a sort change: the ``s`` key on the table (next column; cold the first time a column is sorted, cached after).

Also reported: clearing the filter (every row shown), the default ``status:unhealthy`` filter, the UI-loop time
of ``on_recs_loaded`` and this process's RSS with the rows in the pane (no Service: the UI side alone).
"""
from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import datetime, timezone
from typing import Any

from . import common
from .common import FrameLog, mdc_css_path, ms, proc_status_mb, summary_ms, timed_display, wait_until, write_json


def synthetic_recs(n: int, seed: int = 7) -> list[Any]:
    """Rows shaped like the large estate's ARG results: ~40 Security Hub controls per resource type, 200 accounts,
    severity High 34% / Medium 42% / Low 24%, status Healthy 63% / Unhealthy 30% / NotApplicable 7%, full ARM ids
    and description/remediation text (these set the memory per row)."""
    from tui.core import model as m

    rnd = random.Random(seed)
    types = [("AWS::S3::Bucket", "s3"), ("AWS::EC2::SecurityGroup", "sg"), ("AWS::EC2::Instance", "i"),
             ("AWS::EC2::Volume", "vol"), ("AWS::IAM::User", "user"), ("AWS::RDS::DBInstance", "db"),
             ("AWS::Lambda::Function", "fn"), ("account", "acct")]
    verbs = ["should be encrypted at rest", "should block public access", "should have logging enabled",
             "should not be publicly accessible", "should use supported runtimes", "should have MFA enabled",
             "should be managed by Systems Manager", "should enable deletion protection"]
    controls = [(f"{t[0].split('::')[-2] if '::' in t[0] else 'Account'} {t[0].split('::')[-1]} {v} ({i})",
                 t, rnd.choices(["High", "Medium", "Low"], weights=[34, 42, 24])[0])
                for t in types for i, v in enumerate(verbs * 5)]
    accounts = [str(rnd.randrange(10**11, 10**12)) for _ in range(200)]
    regions = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "eu-west-2", "ap-southeast-2",
               "ap-northeast-1", "ap-south-1", "ca-central-1", "sa-east-1", "global"]
    subs = [f"{rnd.getrandbits(128):032x}" for _ in range(8)]
    out = []
    for i in range(n):
        title, (rtype, short), sev = rnd.choice(controls)
        acct = rnd.choice(accounts)
        conn = (f"/subscriptions/{rnd.choice(subs)}/resourcegroups/mdc-connectors/providers/microsoft.security/"
                f"securityconnectors/awsconnector_{acct}")
        key = f"{rnd.getrandbits(128):032x}"
        out.append(m.Recommendation(
            id=f"{conn}/securityentitydata/aws-{short}-{i}/providers/Microsoft.Security/assessments/{key}",
            assessment_key=key, title=title, severity=sev,
            status=rnd.choices(["Healthy", "Unhealthy", "NotApplicable"], weights=[63, 30, 7])[0],
            connector_id=conn, resource_name=f"{short}-{rnd.getrandbits(40):010x}", resource_type=rtype,
            region=rnd.choice(regions), aws_account_id=acct,
            description=f"AWS Security Hub control evaluates your {rtype} resources: {title}.",
            remediation=f"Follow the AWS Security Hub remediation for this control: https://docs.aws.amazon.com/"
                        f"securityhub/latest/userguide/{short}-controls.html#{short}-{i % 40}"))
    return out


def fresh_empty_snapshot() -> Any:
    from tui.core import model as m

    now = datetime.now(timezone.utc)
    return m.Snapshot(generated_at=now, subscriptions=(),
                      sections={n: m.Section(m.SectionStatus(n, "ok", now)) for n in m.SECTION_NAMES})


class InstantService:
    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def collect(self) -> Any:
        return fresh_empty_snapshot()

    def recommendations(self) -> list[Any]:
        return self.rows

    def close(self) -> None:
        pass


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tui.app import MdcApp

    res: dict[str, Any] = {"rss_start": proc_status_mb()}
    t0 = time.perf_counter()
    if args.recs:
        from tui.core import codec  # tagged JSON written by benchmarks.live --dump-recs (never pickle)

        with open(args.recs, encoding="utf-8") as fh:
            rows = codec.loads(fh.read(), codec.model_classes())
        res["source"] = "large estate via the real core (Service.recommendations + attach_accounts)"
    else:
        rows = synthetic_recs(args.synthetic)
        res["source"] = "synthetic (large-estate distributions)"
    res["load_s"] = round(time.perf_counter() - t0, 2)
    res["rows"] = len(rows)
    res["rss_rows_loaded"] = proc_status_mb()

    class PaneApp(MdcApp):
        CSS_PATH = mdc_css_path()

        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.flog = FrameLog()
            self.recs_handler: tuple[float, float] | None = None

        def _display(self, screen: Any, renderable: Any) -> None:
            timed_display(self, self.flog, screen, renderable, super()._display)

        def on_recs_loaded(self, msg: Any) -> None:
            t0 = time.perf_counter()
            MdcApp.on_recs_loaded(self, msg)
            self.recs_handler = (t0, time.perf_counter())
            msg.prevent_default()  # MdcApp's ran above: stop Textual's MRO walk

    svc = InstantService(rows)
    app = PaneApp(refresh_s=3600.0, service_factory=lambda s, start: svc)
    t_app = time.perf_counter()
    async with app.run_test(size=(80, 24)) as pilot:
        flog = app.flog
        if not await wait_until(lambda: app.recs_handler is not None, 120.0, step=0.01):
            raise RuntimeError("the recommendations never reached the pane")
        h0, h1 = app.recs_handler
        await wait_until(lambda: flog.first_after(h1) is not None, 10.0)
        res["recs_arrival"] = {"fetch_to_handler_ms": ms(h0 - t_app),  # includes start-up + Index.prepare (worker)
                               "on_recs_loaded_ui_ms": ms(h1 - h0),
                               "handler_to_painted_ms": ms(flog.first_after(h1)[1] - h0)}  # type: ignore[index]
        app.dashboard.action_show_pane("recs")
        await pilot.pause()
        pane = app.dashboard.pane("recs")
        table = pane.table
        done: list[float] = []
        orig = pane.render_rows

        def render_rows() -> None:
            orig()
            done.append(time.perf_counter())

        pane.render_rows = render_rows  # type: ignore[method-assign] - instance wrap, called as self.render_rows()

        async def timed_filter(text: str) -> tuple[float, int]:
            return await common.timed_filter(pane, table, flog, text, 10.0)

        async def timed_sort() -> tuple[float, str]:
            return await common.timed_sort(app, pane, flog, done, 10.0)

        import gc

        gc_pauses: list[tuple[float, int]] = []
        gc_t0 = [0.0]

        def gc_cb(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                gc_t0[0] = time.perf_counter()
            else:
                gc_pauses.append((time.perf_counter() - gc_t0[0], info.get("generation", -1)))

        gc.callbacks.append(gc_cb)
        f1: list[float] = []
        f2: list[float] = []
        srt: list[float] = []
        sort_log: list[str] = []
        n1 = n2 = 0
        await pilot.pause()
        for _ in range(args.iterations):
            lat, n1 = await timed_filter("sev:high s3")
            f1.append(lat)
            lat, n2 = await timed_filter("!sev:low")
            f2.append(lat)
            lat, key = await timed_sort()
            srt.append(lat)
            sort_log.append(f"{key}:{ms(lat)}")
            await asyncio.sleep(0.05)
        gc.callbacks.remove(gc_cb)
        n_ops = 3 * args.iterations
        res["gc_during_filter_sort"] = {
            "collections": len(gc_pauses), "gen2": sum(1 for _, g in gc_pauses if g == 2),
            "total_ms": ms(sum(d for d, _ in gc_pauses)), "per_op_ms": ms(sum(d for d, _ in gc_pauses) / n_ops),
            "max_ms": ms(max((d for d, _ in gc_pauses), default=0.0))}
        clear: list[float] = []
        default: list[float] = []
        n_all = n_def = 0
        for _ in range(3):
            lat, n_all = await timed_filter("")
            clear.append(lat)
            lat, n_def = await timed_filter("status:unhealthy")
            default.append(lat)
        # where the time of one re-render goes (the steps of RecommendationsPane.render_rows, timed one by one)
        from tui.core.tablequery import parse_filter
        from tui.core.rectable import SORT_KEYS
        from tui.render.rows import rec_cells

        steps: dict[str, list[float]] = {"parse+query": [], "rec_cells": [], "table.set_rows": []}
        for _ in range(3):
            a = time.perf_counter()
            idx = pane.index.query(parse_filter("!sev:low"), sort_key=SORT_KEYS[pane.sort_key],
                                   descending=pane.descending)
            shown = [rows[i] for i in idx]
            b = time.perf_counter()
            cells = [rec_cells(r) for r in shown]
            c = time.perf_counter()
            table.set_rows(cells, keys=[r.id for r in shown])
            d = time.perf_counter()
            steps["parse+query"].append(b - a)
            steps["rec_cells"].append(c - b)
            steps["table.set_rows"].append(d - c)
            await pilot.pause()
        res["render_rows_breakdown_not_low"] = {k: ms(min(v)) for k, v in steps.items()}
        res["render_rows_breakdown_not_low"]["rows"] = len(shown)
        res["filter_sev_high_s3"] = {**summary_ms(f1), "matched": n1}
        res["filter_not_low"] = {**summary_ms(f2), "matched": n2}
        res["sort_change"] = {**summary_ms(srt), "first_cold_ms": ms(srt[0]) if srt else None,
                              "sequence": sort_log, "rows_shown": n2}
        res["clear_filter_all_rows"] = {**summary_ms(clear), "matched": n_all}
        res["default_filter_unhealthy"] = {**summary_ms(default), "matched": n_def}
        res["rss_rows_in_pane"] = proc_status_mb()
    return res


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.panebench")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--recs", help="list[Recommendation] as tagged JSON (tui.core.codec)")
    src.add_argument("--synthetic", type=int, metavar="N")
    p.add_argument("--out", required=True)
    p.add_argument("--iterations", type=int, default=10)
    a = p.parse_args()
    res = asyncio.run(run(a))
    res["rss_end"] = proc_status_mb()
    write_json(a.out, res)


if __name__ == "__main__":
    main()
