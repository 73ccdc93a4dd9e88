"""What changed between two snapshots (`mdc-aws diff`): the previous run's, from the local history, and this one.

    changes = diff_snapshots(previous, current)   # previous None: the first run, nothing to compare
    text = render(changes, "text")                # "text" | "json" | "md"

Compared: accounts and connectors added or removed, plans enabled or disabled per account, each connector's health
(state and codes), stuck instances added, cleared or with another reason per account, unhealthy findings by
severity per account, and each standard's compliance percent. Accounts added or removed are listed once; the other
changes are about accounts present in both runs. A part whose data this run did not fetch fresh (its section failed)
or the previous run lacks is not compared, and the diff says so (never a change made up from stale data).

Pure: snapshots in, changes out. Never imports textual or rich.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Final, Iterable, Mapping

from . import derive as d
from . import health as h
from . import model as m

HealthOf = Callable[[m.Snapshot], Mapping[str, h.Health]]

# Each part of the diff and the sections it needs (fresh in this run, present in the previous one).
PARTS: Final[dict[str, tuple[str, ...]]] = {
    "accounts": ("connectors",),
    "connectors": ("connectors",),
    "plans": ("connectors",),
    "health": m.SECTION_NAMES,  # the health model reads every section
    "stuck": ("connectors", "onboarding"),
    "findings": ("connectors", "onboarding", "recommendations"),  # findings reach accounts through Arc machines too
    "compliance": ("compliance",),
}
TITLES: Final[dict[str, str]] = {
    "accounts": "accounts", "connectors": "connectors", "plans": "plans", "health": "connector health",
    "stuck": "stuck instances", "findings": "unhealthy findings by severity", "compliance": "compliance",
}


@dataclass(frozen=True)
class Diff:
    current_run: datetime
    previous_run: datetime | None  # None: no previous run, nothing compared
    # part -> its changes, each a JSON-able mapping with "text" (one line) and the facts
    changes: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    not_compared: Mapping[str, str] = field(default_factory=dict)  # part -> why

    @property
    def changed(self) -> bool:
        return any(self.changes.values())

    def to_dict(self) -> dict[str, Any]:
        return {"previous_run": _iso(self.previous_run), "current_run": _iso(self.current_run),
                "changed": self.changed,
                "changes": {p: [dict(c) for c in self.changes.get(p, ())] for p in PARTS if p in self.changes},
                "not_compared": dict(self.not_compared)}


def diff_snapshots(previous: m.Snapshot | None, current: m.Snapshot, *, health_of: HealthOf | None = None) -> Diff:
    """What changed from ``previous`` to ``current``. ``health_of`` (default tui.core.health.health_by_connector)."""
    if previous is None:
        return Diff(current.generated_at, None)
    health_of = health_of or h.health_by_connector
    changes: dict[str, tuple[Mapping[str, Any], ...]] = {}
    not_compared: dict[str, str] = {}
    views = {v.aws_account_id: v for v in d.account_views(current)}
    before = {v.aws_account_id: v for v in d.account_views(previous)}
    both = sorted(set(views) & set(before))
    for part, sections in PARTS.items():
        why = _why_not(previous, current, sections)
        if why:
            not_compared[part] = why
            continue
        if part == "accounts":
            changes[part] = _accounts(before, views)
        elif part == "connectors":
            changes[part] = _connectors(before, views, both)
        elif part == "plans":
            changes[part] = _plans(before, views, both)
        elif part == "health":
            changes[part] = _health(health_of(previous), health_of(current), before, views, both)
        elif part == "stuck":
            changes[part] = _stuck(before, views, both)
        elif part == "findings":
            changes[part] = _findings(before, views, both)
        else:
            changes[part] = _compliance(previous.data("compliance"), current.data("compliance"))
    return Diff(current.generated_at, previous.generated_at, changes, not_compared)


def _why_not(previous: m.Snapshot, current: m.Snapshot, sections: Iterable[str]) -> str | None:
    why = []
    for n in sections:
        sec = current.sections.get(n)
        if sec is None or sec.status.status != "ok":
            status = sec.status.status if sec is not None else "not collected"
            err = sec.status.error if sec is not None else None
            why.append(f"this run's {n} section: {status}" + (f" ({err})" if err else ""))
        elif previous.data(n) is None:
            why.append(f"the previous run has no {n} data")
    return "; ".join(why) or None


def _names(v: d.AccountView) -> str:
    return f"{v.aws_account_id} ({v.name})" if v.name and v.name != v.aws_account_id else v.aws_account_id


def _accounts(before: Mapping[str, d.AccountView], views: Mapping[str, d.AccountView]
              ) -> tuple[Mapping[str, Any], ...]:
    out: list[Mapping[str, Any]] = []
    for acct in sorted(set(views) - set(before)):
        v = views[acct]
        out.append({"account_id": acct, "change": "added", "name": v.name,
                    "connectors": [c.name for c in v.connectors],
                    "text": f"+ account {_names(v)}: " + ", ".join(f"{c.kind} connector {c.name}"
                                                                   for c in v.connectors)})
    for acct in sorted(set(before) - set(views)):
        v = before[acct]
        out.append({"account_id": acct, "change": "removed", "name": v.name,
                    "connectors": [c.name for c in v.connectors], "text": f"- account {_names(v)}"})
    return tuple(out)


def _connectors(before: Mapping[str, d.AccountView], views: Mapping[str, d.AccountView], both: list[str]
                ) -> tuple[Mapping[str, Any], ...]:
    out: list[Mapping[str, Any]] = []
    for acct in both:
        was = {c.id.lower(): c for c in before[acct].connectors}
        now = {c.id.lower(): c for c in views[acct].connectors}
        for key in sorted(set(now) - set(was)):
            c = now[key]
            out.append({"account_id": acct, "change": "added", "connector": c.name, "connector_id": c.id,
                        "kind": c.kind, "text": f"account {acct}: + {c.kind} connector {c.name}"})
        for key in sorted(set(was) - set(now)):
            c = was[key]
            out.append({"account_id": acct, "change": "removed", "connector": c.name, "connector_id": c.id,
                        "kind": c.kind, "text": f"account {acct}: - {c.kind} connector {c.name}"})
    return tuple(out)


def _plans(before: Mapping[str, d.AccountView], views: Mapping[str, d.AccountView], both: list[str]
           ) -> tuple[Mapping[str, Any], ...]:
    out: list[Mapping[str, Any]] = []
    for acct in both:
        for key in m.PLAN_KEYS:
            pw, pn = before[acct].plans.get(key), views[acct].plans.get(key)
            was, now = bool(pw and pw.enabled), bool(pn and pn.enabled)
            if was != now:
                out.append({"account_id": acct, "plan": key, "was": was, "now": now,
                            "text": f"account {acct}: {m.PLAN_TITLES[key]} {'enabled' if now else 'disabled'}"})
    return tuple(out)


def _health(hb: Mapping[str, h.Health], hn: Mapping[str, h.Health], before: Mapping[str, d.AccountView],
            views: Mapping[str, d.AccountView], both: list[str]) -> tuple[Mapping[str, Any], ...]:
    out: list[Mapping[str, Any]] = []
    for acct in both:
        was_ids = {c.id.lower() for c in before[acct].connectors}
        for c in views[acct].connectors:
            key = c.id.lower()
            if key not in was_ids or key not in hb or key not in hn:
                continue  # a connector added since: listed under connectors
            w, n = hb[key], hn[key]
            added = [x for x in n.codes() if x not in w.codes()]
            removed = [x for x in w.codes() if x not in n.codes()]
            if w.state == n.state and not added and not removed:
                continue
            codes = ", ".join([f"+{x}" for x in added] + [f"-{x}" for x in removed])
            state = f"{w.state} -> {n.state}" if w.state != n.state else n.state
            out.append({"account_id": acct, "connector": c.name, "connector_id": c.id, "was": w.state,
                        "now": n.state, "codes_added": added, "codes_removed": removed,
                        "issues_added": [{"code": i.code, "message": i.message, "fix": i.fix}
                                         for i in n.issues if i.code in added],
                        "text": f"account {acct} connector {c.name}: {state}" + (f" ({codes})" if codes else "")})
    return tuple(out)


def _stuck(before: Mapping[str, d.AccountView], views: Mapping[str, d.AccountView], both: list[str]
           ) -> tuple[Mapping[str, Any], ...]:
    def of(v: d.AccountView) -> dict[str, d.StuckInstance]:
        return {s.instance_id.lower(): s for s in (v.onboarding.stuck if v.onboarding is not None else ())}

    def item(s: d.StuckInstance) -> dict[str, Any]:
        return {"instance_id": s.instance_id, "region": s.region, "reason": s.reason}

    out: list[Mapping[str, Any]] = []
    for acct in both:
        was, now = of(before[acct]), of(views[acct])
        added = [item(now[k]) for k in sorted(set(now) - set(was))]
        cleared = [item(was[k]) for k in sorted(set(was) - set(now))]
        changed = [{"instance_id": now[k].instance_id, "region": now[k].region, "was": was[k].reason,
                    "now": now[k].reason} for k in sorted(set(now) & set(was)) if now[k].reason != was[k].reason]
        if not (added or cleared or changed):
            continue
        parts = []
        if added:
            parts.append(f"+{len(added)} stuck (" + ", ".join(f"{x['instance_id']} {x['reason']}"
                                                              for x in added[:5]) + (", ..." if len(added) > 5 else "")
                         + ")")
        if cleared:
            parts.append(f"{len(cleared)} cleared (" + ", ".join(x["instance_id"] for x in cleared[:5])
                         + (", ..." if len(cleared) > 5 else "") + ")")
        if changed:
            parts.append(f"{len(changed)} with another reason (" + ", ".join(
                f"{x['instance_id']} {x['was']} -> {x['now']}" for x in changed[:5])
                + (", ..." if len(changed) > 5 else "") + ")")
        out.append({"account_id": acct, "was": len(was), "now": len(now), "added": added, "cleared": cleared,
                    "reason_changed": changed,
                    "text": f"account {acct}: {len(was)} -> {len(now)} stuck; " + "; ".join(parts)})
    return tuple(out)


def _findings(before: Mapping[str, d.AccountView], views: Mapping[str, d.AccountView], both: list[str]
              ) -> tuple[Mapping[str, Any], ...]:
    out: list[Mapping[str, Any]] = []
    for acct in both:
        rw, rn = before[acct].recommendations, views[acct].recommendations
        if rw is None or rn is None:
            continue
        moved = {}
        for sev in m.SEVERITIES:
            w, n = int(rw.unhealthy_by_severity.get(sev, 0)), int(rn.unhealthy_by_severity.get(sev, 0))
            if w != n:
                moved[sev] = {"was": w, "now": n}
        if moved:
            text = ", ".join(f"{sev} {x['was']} -> {x['now']} ({x['now'] - x['was']:+d})" for sev, x in moved.items())
            out.append({"account_id": acct, "unhealthy_by_severity": moved, "text": f"account {acct}: {text}"})
    return tuple(out)


def _compliance(prev: m.ComplianceData, cur: m.ComplianceData) -> tuple[Mapping[str, Any], ...]:
    was = {s.name: s for s in prev.standards}
    now = {s.name: s for s in cur.standards}
    out: list[Mapping[str, Any]] = []
    for name in sorted(set(was) | set(now), key=lambda n: m.standard_display_name(n).lower()):
        pw = d.compliance_percent(was[name]) if name in was else None
        pn = d.compliance_percent(now[name]) if name in now else None
        if name in was and name in now and pw == pn:
            continue
        display = m.standard_display_name(name)
        if name not in was:
            text = f"+ {display}: {_pct(pn)}"
        elif name not in now:
            text = f"- {display} (was {_pct(pw)})"
        else:
            delta = f" ({pn - pw:+.1f} points)" if pw is not None and pn is not None else ""
            text = f"{display}: {_pct(pw)} -> {_pct(pn)}{delta}"
        out.append({"standard": name, "display_name": display, "was": pw, "now": pn,
                    "change": "added" if name not in was else "removed" if name not in now else "changed",
                    "text": text})
    return tuple(out)


def _pct(v: float | None) -> str:
    return "no assessed controls" if v is None else f"{v:.1f}%"


# ------------------------------------------------------------------------------------------------ rendering


def render(diff: Diff, fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(diff.to_dict(), indent=2) + "\n"
    if fmt == "md":
        return render_markdown(diff)
    if fmt == "text":
        return render_text(diff)
    raise ValueError(f"unknown format {fmt!r}")


def _headline(diff: Diff) -> str:
    if diff.previous_run is None:
        return (f"no previous run in the local history: nothing to compare this run ({_iso(diff.current_run)}) "
                "with; it is saved, the next run compares with it")
    what = "changes" if diff.changed else "no change"
    return f"{what} since the previous run ({_iso(diff.previous_run)}; this run {_iso(diff.current_run)})"


def render_text(diff: Diff) -> str:
    out = [_headline(diff)]
    for part in PARTS:
        items = diff.changes.get(part, ())
        if items:
            out.append(f"{TITLES[part]}:")
            out.extend(f"  {c['text']}" for c in items)
    for part, why in diff.not_compared.items():
        out.append(f"not compared: {TITLES[part]}: {why}")
    return "\n".join(out) + "\n"


def render_markdown(diff: Diff) -> str:
    out = ["# mdc-aws diff", "", _headline(diff)]
    for part in PARTS:
        items = diff.changes.get(part, ())
        if items:
            out += ["", f"## {TITLES[part].capitalize()}", ""]
            out.extend(f"- {str(c['text']).replace(chr(10), ' ')}" for c in items)
    if diff.not_compared:
        out += ["", "## Not compared", ""]
        out.extend(f"- {TITLES[p]}: {why}" for p, why in diff.not_compared.items())
    return "\n".join(out) + "\n"


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(timezone.utc).isoformat() if t is not None else None
