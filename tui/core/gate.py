"""The gate of `mdc-aws check`: rules evaluated against a fresh snapshot and the previous run's (local history).

    rules = load_rules("gate.toml")          # or DEFAULT_RULES; RulesError (a UsageError: exit 2) names rule, line, key
    report = evaluate(rules, snap, previous) # previous: History.latest() before this run was saved (None: first run)
    text = render(report, "text")            # "text" | "json" | "md"
    sys.exit(report.exit_code)               # 0 every rule holds, 3 one fails, 1 one could not be evaluated

Pure: a snapshot (and the previous one) and rules in, results out; no I/O but reading the rules file. The rules file
is TOML (tomllib: data, never code), one ``[[rule]]`` table per rule:

    [[rule]]
    kind = "standard_score_below"       # a standard's score (passed / (passed + failed) controls) below threshold %
    standard = "Microsoft-cloud-security-benchmark"   # optional: every standard when absent
    threshold = 60

    [[rule]]
    kind = "standard_score_drop"        # a standard's score dropped by more than `points` since the previous run
    points = 5

    [[rule]]
    kind = "connector_not_healthy"      # a connector has an issue of a level in `states` (and a code in `codes`)
    codes = ["stack-not-complete"]      # optional: tui.core.health.CODES
    states = ["failing"]                # optional: failing | degraded | pending (default failing, degraded)
    accounts = ["123456789012"]         # optional (every rule with accounts: only those AWS accounts)

    [[rule]]
    kind = "stuck_instances_above"      # more than `max` EC2 instances stuck on their way to Arc
    max = 10
    reasons = ["no SSM agent"]          # optional: the stuck reasons (snapshot JSON stuck[].reason)

    [[rule]]
    kind = "stuck_longer_than"          # an instance stuck for more than `hours` (when that is known)
    hours = 24

    [[rule]]
    kind = "new_high_findings"          # an account's High unhealthy findings rose by more than `max` since last run
    max = 0

Every rule may carry a `name` (shown with its result). An unknown kind or key, a missing or bad value is a
RulesError naming the rule, its line and the key. A rule whose data is missing (its section failed) is not
evaluated (ok None, exit 1): unknown is never "holds". Never imports textual or rich.
"""
from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Final, Iterable, Mapping, Sequence, get_args

from . import derive as d
from . import health as h
from . import model as m
from .errors import UsageError

EXIT_OK: Final = 0
EXIT_PARTIAL: Final = 1  # a rule could not be evaluated (its section failed) and none failed
EXIT_FAILED: Final = 3  # a rule failed

HealthOf = Callable[[m.Snapshot], Mapping[str, h.Health]]

ISSUE_LEVELS: Final[tuple[h.IssueLevel, ...]] = ("failing", "degraded", "pending")
STUCK_REASONS: Final[tuple[str, ...]] = get_args(m.StuckReason)
TEXT_EVIDENCE_LIMIT: Final = 20  # evidence lines per rule in text and Markdown (JSON lists every one)


class RulesError(UsageError):
    """A rules file (or rule) that cannot be used: the CLI exits 2 with this one line."""


# ------------------------------------------------------------------------------------------------ rule kinds


UNREADABLE = "aws-unreadable"  # tui.core.health: mdc-aws could not read the AWS account


def _number(lo: float, hi: float | None = None, *, above: bool = False) -> Callable[[Any], float | int]:
    def parse(v: Any) -> float | int:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError("expected a number" + (" (not nan or inf)" if isinstance(v, float) else ""))
        if (v <= lo if above else v < lo) or (hi is not None and v > hi):
            bound = f"above {lo:g}" if above else f"at least {lo:g}"
            raise ValueError(f"expected a number {bound}" + (f" and at most {hi:g}" if hi is not None else ""))
        return v
    return parse


def _count(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError("expected a whole number, 0 or more")
    return v


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("expected a non-empty string")
    return v.strip()


def _choices(allowed: Sequence[str], what: str) -> Callable[[Any], tuple[str, ...]]:
    def parse(v: Any) -> tuple[str, ...]:
        if not isinstance(v, list) or not v:
            raise ValueError(f"expected a non-empty list of {what}")
        out: list[str] = []
        for x in v:
            if not isinstance(x, str) or x not in allowed:
                raise ValueError(f"{x!r} is not one of the {what}: " + ", ".join(allowed))
            if x not in out:
                out.append(x)
        return tuple(out)
    return parse


def _accounts(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not v:
        raise ValueError("expected a non-empty list of AWS account ids")
    out: list[str] = []
    for x in v:
        if not isinstance(x, str) or not re.fullmatch(r"\d{12}", x.strip()):
            raise ValueError(f"{x!r} is not an AWS account id: 12 digits, quoted (\"012345678901\": a leading zero "
                             "would be lost in a number)")
        if x.strip() not in out:
            out.append(x.strip())
    return tuple(out)


@dataclass(frozen=True)
class _Key:
    parse: Callable[[Any], Any]
    required: bool = False


@dataclass(frozen=True)
class Kind:
    """One rule kind: its keys, the sections it needs fresh and whether it compares with the previous run."""

    name: str
    keys: Mapping[str, _Key]
    sections: tuple[str, ...]
    compares: bool = False
    doc: str = ""


_ACCOUNTS = _Key(_accounts)
_REASONS = _Key(_choices(STUCK_REASONS, "stuck reasons"))
KINDS: Final[dict[str, Kind]] = {k.name: k for k in (
    Kind("standard_score_below", {"standard": _Key(_text), "threshold": _Key(_number(0, 100), required=True)},
         ("compliance",), doc="a standard's score (percent of assessed controls passed) is below `threshold`"),
    Kind("standard_score_drop", {"standard": _Key(_text), "points": _Key(_number(0), required=True)},
         ("compliance",), compares=True, doc="a standard's score dropped by more than `points` since the last run"),
    Kind("connector_not_healthy", {"codes": _Key(_choices(tuple(c.code for c in h.CODES), "health codes")),
                                   "states": _Key(_choices(ISSUE_LEVELS, "issue levels")), "accounts": _ACCOUNTS},
         ("connectors",), doc="a connector has an issue of a level in `states` (and a code in `codes` when given)"),
    Kind("stuck_instances_above", {"max": _Key(_count, required=True), "accounts": _ACCOUNTS, "reasons": _REASONS},
         ("connectors", "onboarding"), doc="more than `max` EC2 instances are stuck on their way to Azure Arc"),
    Kind("stuck_longer_than", {"hours": _Key(_number(0, above=True), required=True), "accounts": _ACCOUNTS,
                               "reasons": _REASONS},
         ("connectors", "onboarding"), doc="an EC2 instance has been stuck for more than `hours` (when known)"),
    Kind("new_high_findings", {"max": _Key(_count), "accounts": _ACCOUNTS},
         ("connectors", "onboarding", "recommendations"), compares=True,
         doc="an account's count of High unhealthy findings rose by more than `max` (default 0) since the last run"),
)}
# The sections the health model reads besides the connectors (tui.core.health): a connector_not_healthy rule that
# finds nothing wrong while one of them failed could not check everything (ok None).
_HEALTH_INPUTS: Final = ("plans", "onboarding", "recommendations", "compliance")


@dataclass(frozen=True)
class Rule:
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)  # validated, defaults filled in; None: not given
    name: str | None = None
    where: str = "default rules"  # "rules file gate.toml, rule 2 (line 7)"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.name:
            out["name"] = self.name
        for k, v in self.params.items():
            if v is not None:
                out[k] = list(v) if isinstance(v, tuple) else v
        return out

    def describe(self) -> str:
        """``standard_score_drop (points 5)``, with the rule's name first when it has one."""
        parts = [f"{k} {', '.join(v) if isinstance(v, tuple) else _num(v)}"
                 for k, v in self.params.items() if v is not None]
        text = self.kind + (f" ({'; '.join(parts)})" if parts else "")
        return f"{self.name}: {text}" if self.name else text


def rule(kind: str, **params: Any) -> Rule:
    """A rule built in code, validated like one read from a file (RulesError)."""
    return _parse_rule({"kind": kind, **params}, f"rule {kind}", {})


# ------------------------------------------------------------------------------------------------ rules file

_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]")


def load_rules(path: str | Path) -> tuple[Rule, ...]:
    """Read and validate a rules file (RulesError on any problem: exit 2)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError(f"rules file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RulesError(f"rules file {p} cannot be read ({getattr(e, 'strerror', None) or e})") from None
    return parse_rules(text, f"rules file {p}")


def parse_rules(text: str, source: str = "rules") -> tuple[Rule, ...]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RulesError(f"{source}: not valid TOML ({e})") from None
    lines = text.splitlines()
    for key in doc:
        if key != "rule":
            raise RulesError(f"{source}: unknown key {key!r}{_at(_key_line(lines, key, 0, len(lines)))}: a rules "
                             "file holds only [[rule]] tables")
    raw_rules = doc.get("rule")
    if raw_rules is None:
        raise RulesError(f"{source}: no [[rule]] table (an empty gate would hold for ever); kinds: "
                         + ", ".join(KINDS))
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        raise RulesError(f"{source}: `rule` must be an array of tables: write each rule as a [[rule]] table")
    headers = [i for i, line in enumerate(lines) if _HEADER.match(line)]
    blocks: list[tuple[int, int] | None] = [None] * len(raw_rules)
    if len(headers) == len(raw_rules):  # else (inline tables) no line numbers: the rule's number still names it
        ends = headers[1:] + [len(lines)]
        blocks = [(start, end) for start, end in zip(headers, ends)]
    out = []
    for i, raw in enumerate(raw_rules, 1):
        block = blocks[i - 1]
        where = f"{source}, rule {i}" + (f" (line {block[0] + 1})" if block else "")
        out.append(_parse_rule(raw, where, {"lines": lines, "block": block}))
    return tuple(out)


def _at(line: int | None) -> str:
    return f" (line {line})" if line else ""


def _key_line(lines: list[str], key: str, start: int, end: int) -> int | None:
    pat = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
    for i in range(start, min(end, len(lines))):
        if pat.match(lines[i]):
            return i + 1
    return None


def _parse_rule(raw: Mapping[str, Any], where: str, ctx: Mapping[str, Any]) -> Rule:
    lines: list[str] = ctx.get("lines") or []
    block = ctx.get("block")

    def line_of(key: str) -> str:
        return _at(_key_line(lines, key, block[0], block[1])) if block else ""

    kind_name = raw.get("kind")
    if kind_name is None:
        raise RulesError(f"{where}: no `kind` (one of: {', '.join(KINDS)})")
    if not isinstance(kind_name, str) or kind_name not in KINDS:
        raise RulesError(f"{where}: unknown kind {kind_name!r}{line_of('kind')} (kinds: {', '.join(KINDS)})")
    kind = KINDS[kind_name]
    allowed = ("kind", "name", *kind.keys)
    for key in raw:
        if key not in allowed:
            raise RulesError(f"{where}: unknown key {key!r}{line_of(key)} for kind {kind_name} "
                             f"(keys: {', '.join(allowed)})")
    name = None
    if "name" in raw:
        try:
            name = _text(raw["name"])
        except ValueError as e:
            raise RulesError(f"{where}: name = {raw['name']!r}{line_of('name')}: {e}") from None
    params: dict[str, Any] = {}
    for key, spec in kind.keys.items():
        if key not in raw:
            if spec.required:
                raise RulesError(f"{where}: kind {kind_name} needs `{key}`")
            params[key] = None
            continue
        try:
            params[key] = spec.parse(raw[key])
        except ValueError as e:
            raise RulesError(f"{where}: {key} = {raw[key]!r}{line_of(key)}: {e}") from None
    if kind_name == "connector_not_healthy" and params["states"] is None:
        # with codes: those codes at any level; without: any failing or degraded issue (pending is allowed)
        params["states"] = ISSUE_LEVELS if params["codes"] else ("failing", "degraded")
    if kind_name == "new_high_findings" and params["max"] is None:
        params["max"] = 0
    return Rule(kind_name, params, name, where)


# The rules `mdc-aws check` applies without --rules (README "The gate"): regressions since the last run and
# anything an operator has to act on; pending (a connector or account under 12 hours old) is allowed.
DEFAULT_RULES: Final[tuple[Rule, ...]] = (
    rule("connector_not_healthy"),
    rule("standard_score_drop", points=5),
    rule("new_high_findings", max=0),
    rule("stuck_longer_than", hours=24),
)


# ------------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    ok: bool | None  # None: could not be evaluated (its data is missing)
    summary: str  # one line
    evidence: tuple[Mapping[str, Any], ...] = ()  # each with "text" (one line) and its facts; "details": more lines
    notes: tuple[str, ...] = ()  # what the operator should know (first run, data of a failed section, ...)

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "UNKNOWN"}[self.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.to_dict(), "ok": self.ok, "summary": self.summary,
                "evidence": [dict(e) for e in self.evidence], "notes": list(self.notes)}


@dataclass(frozen=True)
class Report:
    results: tuple[RuleResult, ...]
    generated_at: datetime
    previous_run: datetime | None
    history_error: str | None = None

    @property
    def ok(self) -> bool:
        return all(r.ok is True for r in self.results)

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.ok is False)

    @property
    def unknown(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.ok is None)

    @property
    def exit_code(self) -> int:
        """3 when a rule fails (also when another could not be evaluated), 1 when one could not be evaluated."""
        if self.failed:
            return EXIT_FAILED
        return EXIT_PARTIAL if self.unknown else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "exit_code": self.exit_code, "generated_at": _iso(self.generated_at),
                "previous_run": _iso(self.previous_run), "history_error": self.history_error,
                "rules": [r.to_dict() for r in self.results]}


# ------------------------------------------------------------------------------------------------ evaluation


def evaluate(rules: Iterable[Rule], snap: m.Snapshot, previous: m.Snapshot | None = None, *,
             history_error: str | None = None, health_of: HealthOf | None = None) -> Report:
    """Every rule against ``snap`` (this run) and ``previous`` (the last run's snapshot from the local history; None:
    there is none). ``history_error``: the history could not be read, so rules comparing with the last run are not
    evaluated. ``health_of`` (default tui.core.health.health_by_connector): lower connector id -> Health."""
    ctx = _Ctx(snap, previous, history_error, health_of or h.health_by_connector)
    results = tuple(_evaluate_one(r, ctx) for r in rules)
    return Report(results, snap.generated_at, previous.generated_at if previous is not None else None, history_error)


class _Ctx:
    """What the rules share, derived once."""

    def __init__(self, snap: m.Snapshot, previous: m.Snapshot | None, history_error: str | None,
                 health_of: HealthOf) -> None:
        self.snap = snap
        self.previous = previous
        self.history_error = history_error
        self.health_of = health_of
        self._views: list[d.AccountView] | None = None
        self._prev_views: list[d.AccountView] | None = None
        self._health: Mapping[str, h.Health] | None = None

    @property
    def views(self) -> list[d.AccountView]:
        if self._views is None:
            self._views = d.account_views(self.snap)
        return self._views

    @property
    def prev_views(self) -> list[d.AccountView]:
        if self._prev_views is None:
            self._prev_views = d.account_views(self.previous) if self.previous is not None else []
        return self._prev_views

    @property
    def health(self) -> Mapping[str, h.Health]:
        if self._health is None:
            self._health = self.health_of(self.snap)
        return self._health


def unfresh(snap: m.Snapshot, names: Iterable[str]) -> list[str]:
    """``"compliance: error: <why>"`` for each of ``names`` not fetched fresh in this run."""
    out = []
    for n in names:
        sec = snap.sections.get(n)
        if sec is None:
            out.append(f"{n}: not collected")
        elif sec.status.status != "ok":
            out.append(f"{n}: {sec.status.status}" + (f": {sec.status.error}" if sec.status.error else ""))
    return out


def _evaluate_one(r: Rule, ctx: _Ctx) -> RuleResult:
    kind = KINDS[r.kind]
    missing = unfresh(ctx.snap, kind.sections)
    if missing:
        return RuleResult(r, None, "not evaluated: its data is missing (" + "; ".join(missing) + ")",
                          tuple({"section": x.split(":", 1)[0], "text": f"section {x}"} for x in missing))
    if kind.compares:
        if ctx.history_error:
            return RuleResult(r, None, f"not evaluated: no previous run to compare with ({ctx.history_error})")
        if ctx.previous is None:
            return RuleResult(r, True, "first run: nothing to compare with yet (this run is the next one's "
                                       "baseline)", notes=("no previous run in the local history",))
        prev_missing = [n for n in kind.sections if ctx.previous.data(n) is None]
        if prev_missing:
            return RuleResult(r, True, f"the previous run has no {', '.join(prev_missing)} data: nothing to "
                                       "compare with", notes=(f"previous run {_iso(ctx.previous.generated_at)}",))
    return _EVALUATORS[r.kind](r, ctx)


def _std_key(name: str) -> str:
    return " ".join(name.replace("-", " ").lower().split())


def _standards(comp: m.ComplianceData | None, wanted: str | None) -> list[m.ComplianceStandard] | None:
    """The standards a rule is about (None: the named one is not in the data). Names match as Azure spells them or
    as the portal shows them, case-insensitively."""
    stds = list(comp.standards) if comp is not None else []
    if wanted is None:
        return stds
    hit = [s for s in stds if _std_key(s.name) == _std_key(wanted)]
    return hit or None


def _not_found(r: Rule, comp: m.ComplianceData | None, wanted: str) -> RuleResult:
    names = ", ".join(s.name for s in (comp.standards if comp else ())) or "none"
    return RuleResult(r, False, f"standard {wanted!r} is not in this run's compliance data",
                      ({"standard": wanted, "percent": None,
                        "text": f"standard {wanted!r} not found (standards in this run: {names})"},))


def _score_below(r: Rule, ctx: _Ctx) -> RuleResult:
    comp: m.ComplianceData | None = ctx.snap.data("compliance")
    wanted, threshold = r.params["standard"], r.params["threshold"]
    stds = _standards(comp, wanted)
    if stds is None:
        return _not_found(r, comp, wanted)
    below, unknown = [], []
    for s in stds:
        pct = d.compliance_percent(s)
        if pct is None:
            unknown.append(s)
        elif pct < threshold:
            below.append((s, pct))
    evidence = [{"standard": s.name, "display_name": s.display_name, "percent": pct, "threshold": threshold,
                 "passed_controls": s.passed_controls, "failed_controls": s.failed_controls,
                 "text": f"{s.display_name}: {_num(pct)}% < {_num(threshold)}% ({s.passed_controls} of "
                         f"{s.passed_controls + s.failed_controls} assessed controls passed)"} for s, pct in below]
    notes = tuple(f"{s.display_name}: no assessed controls (score unknown)" for s in unknown)
    if below:
        return RuleResult(r, False, f"{len(below)} standard(s) below {_num(threshold)}%", tuple(evidence), notes)
    if wanted is not None and unknown:
        return RuleResult(r, None, f"{stds[0].display_name} has no assessed controls: its score is unknown",
                          notes=notes)
    what = stds[0].display_name if wanted is not None else f"every standard ({len(stds) - len(unknown)})"
    return RuleResult(r, True, f"{what} at {_num(threshold)}% or more", notes=notes)


def _score_drop(r: Rule, ctx: _Ctx) -> RuleResult:
    assert ctx.previous is not None
    comp: m.ComplianceData | None = ctx.snap.data("compliance")
    prev: m.ComplianceData | None = ctx.previous.data("compliance")
    wanted, points = r.params["standard"], r.params["points"]
    stds = _standards(comp, wanted)
    if stds is None:
        return _not_found(r, comp, wanted)
    before = {_std_key(s.name): d.compliance_percent(s) for s in (prev.standards if prev else ())}
    evidence, notes, compared = [], [], 0
    for s in stds:
        now = d.compliance_percent(s)
        key = _std_key(s.name)
        if key not in before:
            notes.append(f"{s.display_name}: not in the previous run")
            continue
        was = before[key]
        if now is None or was is None:
            notes.append(f"{s.display_name}: score unknown in {'this' if now is None else 'the previous'} run")
            continue
        compared += 1
        drop = round(was - now, 1)
        if drop > points:
            evidence.append({"standard": s.name, "display_name": s.display_name, "was": was, "now": now,
                             "drop": drop, "points": points,
                             "text": f"{s.display_name}: {_num(was)}% -> {_num(now)}% (down {_num(drop)} points, "
                                     f"more than {_num(points)})"})
    since = f"since {_iso(ctx.previous.generated_at)}"
    if evidence:
        return RuleResult(r, False, f"{len(evidence)} standard(s) dropped more than {_num(points)} points {since}",
                          tuple(evidence), tuple(notes))
    return RuleResult(r, True, f"no standard dropped more than {_num(points)} points {since} ({compared} compared)",
                      notes=tuple(notes))


def _connector_not_healthy(r: Rule, ctx: _Ctx) -> RuleResult:
    cd: m.ConnectorsData = ctx.snap.data("connectors")
    codes, states, accounts = r.params["codes"], r.params["states"], r.params["accounts"]
    health = ctx.health
    evidence = []
    checked = 0
    unjudged: list[str] = []  # connectors the health model gave no Health (it failed on their data)
    for c in sorted(cd.connectors, key=lambda c: (c.aws_account_id or "", c.kind != "native", c.name)):
        if accounts and c.aws_account_id not in accounts:
            continue
        checked += 1
        hh = health.get(c.id.lower())
        if hh is None:
            unjudged.append(c.name)
            continue
        bad = [i for i in hh.issues if i.level in states and (not codes or i.code in codes)]
        if not codes and any(i.code == UNREADABLE for i in bad):
            # mdc-aws itself could not read the account: its AWS-side health is unknown, not broken (named in
            # `codes`, a rule may still fail on it)
            bad = [i for i in bad if i.code != UNREADABLE]
            if not bad:
                unjudged.append(f"{c.name} (AWS side not readable)")
                continue
        if not bad:
            continue
        evidence.append({
            "account_id": c.aws_account_id, "connector": c.name, "connector_id": c.id, "kind": c.kind,
            "state": hh.state,
            "issues": [{"code": i.code, "level": i.level, "message": i.message, "fix": i.fix} for i in bad],
            "text": f"account {c.aws_account_id or '?'} connector {c.name}: {hh.state} ("
                    + ", ".join(i.code for i in bad) + ")",
            "details": [f"{i.code}: {i.message} -> fix: {i.fix}" for i in bad]})
    stale = unfresh(ctx.snap, _HEALTH_INPUTS)
    notes = tuple(f"facts of section {x} (last good data, or none) were used" for x in stale)
    if unjudged:
        notes += (f"health not evaluated for {len(unjudged)} connector(s): {', '.join(unjudged[:5])}"
                  + (", ..." if len(unjudged) > 5 else ""),)
    if evidence:
        return RuleResult(r, False, f"{len(evidence)} of {checked} connector(s) not healthy", tuple(evidence), notes)
    if stale or unjudged:
        why = stale + ([f"health not evaluated for {len(unjudged)} connector(s)"] if unjudged else [])
        return RuleResult(r, None, f"no issue found on {checked} connector(s), but not everything could be checked ("
                          + "; ".join(why) + ")", notes=notes)
    return RuleResult(r, True, f"{checked} connector(s) without such an issue" if codes or states != (
        "failing", "degraded") else f"{checked} connector(s) healthy or pending")


def _stuck(r: Rule, ctx: _Ctx) -> tuple[list[tuple[d.AccountView, d.StuckInstance]], list[str]]:
    accounts, reasons = r.params["accounts"], r.params["reasons"]
    out: list[tuple[d.AccountView, d.StuckInstance]] = []
    notes: list[str] = []
    for v in ctx.views:
        if (accounts and v.aws_account_id not in accounts) or v.onboarding is None:
            continue
        f = v.onboarding
        if f.ec2_total is None and f.arc_expected:
            notes.append(f"account {v.aws_account_id}: AWS side not read ({f.aws_error}): only the stuck instances "
                         "Azure Arc shows are counted")
        out.extend((v, s) for s in f.stuck if not reasons or s.reason in reasons)
    return out, notes


def stuck_since(s: d.StuckInstance, snap: m.Snapshot) -> tuple[datetime | None, str]:
    """Since when ``s`` has been stuck, and on what that rests (or why it is unknown): never a guess.

    Arc disconnected / expired / error: the Arc machine's last status change. Not discovered yet: since it became
    discoverable (the later of EC2 LaunchTime and SSM registration, derive.discovery_due minus the hourly interval).
    No SSM agent: since EC2 LaunchTime. SSM connection lost: since the agent's last ping."""
    od: m.OnboardingData | None = snap.data("onboarding")
    inv = od.aws.get(s.account_id) if od is not None else None
    iid = s.instance_id.lower()
    ec2 = next((i for i in inv.instances if i.instance_id.lower() == iid), None) if inv else None
    ssm = next((x for x in inv.ssm if x.instance_id.lower() == iid), None) if inv else None
    if s.reason in (m.REASON_ARC_DISCONNECTED, m.REASON_ARC_EXPIRED, m.REASON_ARC_ERROR, m.REASON_ARC_OTHER):
        arc = d.snapshot_arc_index(snap).get(iid)
        if arc is None and od is not None:
            arc = next((a for a in od.arc_machines if (a.instance_id or a.name).lower() == iid), None)
        when = _parse_time(arc.last_status_change if arc else None)
        if when is None:
            return None, "the Arc machine's last status change is not known"
        return when, f"since its Arc status changed ({arc.status if arc else '?'})"
    if s.reason == m.REASON_NOT_DISCOVERED:
        if s.discovery_due is None:
            return None, "EC2 launch time and SSM registration not read"
        return s.discovery_due - d.DISCOVERY_INTERVAL, "since it became discoverable (EC2 launch / SSM registration)"
    if s.reason == m.REASON_NO_SSM:
        if ec2 is None or ec2.launch_time is None:
            return None, "EC2 launch time not read"
        return ec2.launch_time, "since its launch (EC2 LaunchTime), without an SSM agent"
    if s.reason == m.REASON_SSM_LOST:
        if ssm is not None and ssm.last_ping is not None:
            return ssm.last_ping, "since the SSM agent's last ping"
        if ec2 is not None and ec2.stopped:
            return None, "the instance is stopped; when it stopped is not read"
        return None, "the SSM agent's last ping is not known"
    return None, "not known for this reason"


def _stuck_item(v: d.AccountView, s: d.StuckInstance, snap: m.Snapshot) -> dict[str, Any]:
    since, basis = stuck_since(s, snap)
    hours = None if since is None else max(0.0, round((snap.generated_at - since).total_seconds() / 3600, 1))
    how_long = f"stuck {_num(hours)} h {basis}" if hours is not None else f"how long is unknown: {basis}"
    return {"account_id": v.aws_account_id, "instance_id": s.instance_id, "region": s.region, "reason": s.reason,
            "stuck_since": _iso(since), "stuck_for_hours": hours, "basis": basis,
            "text": f"account {v.aws_account_id} {s.instance_id} ({s.region or '?'}): {s.reason}; {how_long}"}


def _stuck_above(r: Rule, ctx: _Ctx) -> RuleResult:
    stuck, notes = _stuck(r, ctx)
    mx = r.params["max"]
    per: dict[str, int] = {}
    for v, _ in stuck:
        per[v.aws_account_id] = per.get(v.aws_account_id, 0) + 1
    split = ", ".join(f"{a}: {n}" for a, n in sorted(per.items()))
    summary = f"{len(stuck)} stuck instance(s) (max {mx})" + (f": {split}" if split else "")
    if len(stuck) > mx:
        return RuleResult(r, False, summary, tuple(_stuck_item(v, s, ctx.snap) for v, s in stuck), tuple(notes))
    return RuleResult(r, True, summary, notes=tuple(notes))


def _stuck_longer(r: Rule, ctx: _Ctx) -> RuleResult:
    stuck, notes = _stuck(r, ctx)
    limit = r.params["hours"]
    items = [_stuck_item(v, s, ctx.snap) for v, s in stuck]
    over = [i for i in items if i["stuck_for_hours"] is not None and i["stuck_for_hours"] > limit]
    unknown = [i for i in items if i["stuck_for_hours"] is None]
    tail = f"; {len(unknown)} stuck for a time not known (listed, not counted)" if unknown else ""
    evidence = tuple(over + unknown)  # the unknown ones are said, never counted as over or under
    if over:
        return RuleResult(r, False, f"{len(over)} of {len(items)} stuck instance(s) stuck more than {_num(limit)} h"
                          + tail, evidence, tuple(notes))
    return RuleResult(r, True, f"none of {len(items)} stuck instance(s) known to be stuck more than {_num(limit)} h"
                      + tail, evidence, tuple(notes))


def _high(views: Iterable[d.AccountView]) -> dict[str, int]:
    return {v.aws_account_id: int(v.recommendations.unhealthy_by_severity.get("High", 0))
            for v in views if v.recommendations is not None}


def _new_high(r: Rule, ctx: _Ctx) -> RuleResult:
    assert ctx.previous is not None
    accounts, mx = r.params["accounts"], r.params["max"]
    now, was = _high(ctx.views), _high(ctx.prev_views)
    evidence = []
    for acct, n in sorted(now.items()):
        if accounts and acct not in accounts:
            continue
        before = was.get(acct)
        rise = n - (before or 0)
        if rise > mx:
            new = " (account new since the last run)" if before is None else ""
            evidence.append({"account_id": acct, "was": before, "now": n, "new": rise, "max": mx,
                             "text": f"account {acct}: High unhealthy findings {before if before is not None else 0}"
                                     f" -> {n} (+{rise}, more than {mx}){new}"})
    since = f"since {_iso(ctx.previous.generated_at)}"
    if evidence:
        return RuleResult(r, False, f"{len(evidence)} account(s) with more than {mx} new High finding(s) {since}",
                          tuple(evidence))
    return RuleResult(r, True, f"no account with more than {mx} new High finding(s) {since}")


_EVALUATORS: Final[dict[str, Callable[[Rule, _Ctx], RuleResult]]] = {
    "standard_score_below": _score_below,
    "standard_score_drop": _score_drop,
    "connector_not_healthy": _connector_not_healthy,
    "stuck_instances_above": _stuck_above,
    "stuck_longer_than": _stuck_longer,
    "new_high_findings": _new_high,
}


# ------------------------------------------------------------------------------------------------ rendering


def render(report: Report, fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2) + "\n"
    if fmt == "md":
        return render_markdown(report)
    if fmt == "text":
        return render_text(report)
    raise ValueError(f"unknown format {fmt!r}")


def _totals(report: Report) -> str:
    n = len(report.results)
    parts = [f"{n - len(report.failed) - len(report.unknown)} of {n} rule(s) hold"]
    if report.failed:
        parts.append(f"{len(report.failed)} failed")
    if report.unknown:
        parts.append(f"{len(report.unknown)} not evaluated")
    prev = _iso(report.previous_run) or ("none (history unavailable)" if report.history_error else "none (first run)")
    return "; ".join(parts) + f" (this run {_iso(report.generated_at)}, previous run {prev})"


def render_text(report: Report) -> str:
    out = []
    for r in report.results:
        out.append(f"{r.verdict:<7} {r.rule.describe()}: {r.summary}")
        for e in r.evidence[:TEXT_EVIDENCE_LIMIT]:
            out.append(f"        - {e.get('text', '')}")
            out.extend(f"            {line}" for line in e.get("details", ()))
        if len(r.evidence) > TEXT_EVIDENCE_LIMIT:
            out.append(f"        ... and {len(r.evidence) - TEXT_EVIDENCE_LIMIT} more (--format json lists all)")
        out.extend(f"        note: {n}" for n in r.notes)
    out.append(("OK: " if report.ok else "FAILED: " if report.failed else "INCOMPLETE: ") + _totals(report))
    if report.history_error:
        out.append(f"history: {report.history_error}")
    return "\n".join(out) + "\n"


def _md(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    title = "passed" if report.ok else "FAILED" if report.failed else "incomplete"
    out = [f"# mdc-aws check: {title}", "", _totals(report), "", "| result | rule | summary |", "|---|---|---|"]
    out.extend(f"| {r.verdict} | `{_md(r.rule.describe())}` | {_md(r.summary)} |" for r in report.results)
    for r in report.results:
        if r.ok is True and not r.notes and not r.evidence:
            continue
        out += ["", f"## {r.verdict}: {_md(r.rule.describe())}", "", _md(r.summary), ""]
        for e in r.evidence[:TEXT_EVIDENCE_LIMIT]:
            out.append(f"- {_md(e.get('text', ''))}")
            out.extend(f"  - {_md(line)}" for line in e.get("details", ()))
        if len(r.evidence) > TEXT_EVIDENCE_LIMIT:
            out.append(f"- ... and {len(r.evidence) - TEXT_EVIDENCE_LIMIT} more (`--format json` lists all)")
        out.extend(f"- note: {_md(n)}" for n in r.notes)
    if report.history_error:
        out += ["", f"History: {_md(report.history_error)}"]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------ helpers


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(timezone.utc).isoformat() if t is not None else None


def _num(v: Any) -> str:
    """60 -> "60", 61.25 -> "61.2", 100.0 -> "100" (never an exponent)."""
    return f"{v:.1f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def _parse_time(v: str | None) -> datetime | None:
    if not v:
        return None
    try:
        t = datetime.fromisoformat(v.strip())
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)
