"""Remediation runbooks: what to fix first, and how, from the data alone. Pure (no I/O, no textual, no rich).

Input: the recommendation rows (accounts attached), the failing controls of the AWS standards and which assessment
keys fail under which control (FAILING_PAIRS_QUERY's rows, read by the caller). Output: a `Runbook` (failing controls
and recommendations, most severe first, then by reach: affected resources, accounts), as Markdown or JSON.

Every text comes from the data (titles, descriptions, `remediationDescription`, control titles) or is a link built
from an id: the AWS Security Hub controls reference (`aws_control_link`) and the portal's recommendation page
(`recommendation_portal_link`). Nothing here writes prose about a control.

Light on purpose: `tui.render.links` imports it, so no model or derivation module is imported at module level.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    from datetime import datetime

    from . import model as m

# The AWS Security Hub controls reference: one page per service, one anchor per control ("EC2.6" -> ec2-controls.html
# #ec2-6). Only ids of that shape get a link (CIS "1.4", PCI "PCI.EC2.1", MCSB "NS-1" do not).
AWS_CONTROLS_DOC = "https://docs.aws.amazon.com/securityhub/latest/userguide/{svc}-controls.html#{svc}-{n}"
REC_PORTAL = ("https://portal.azure.com/#view/Microsoft_Azure_Security/GenericRecommendationDetailsBlade/"
              "assessmentKey/{key}")
_CONTROL_ID = re.compile(r"([A-Za-z][A-Za-z0-9]*)\.([1-9][0-9]{0,3})")

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}  # anything else after Low
UNATTRIBUTED = "unattributed"  # the account of a row no account could be found for



# ----------------------------------------------------------------------------------------------- links

def parse_aws_control_id(control_id: str | None) -> tuple[str, int] | None:
    """("ec2", 6) for an AWS Security Hub control id like "EC2.6" (service, number); None for any other id."""
    hit = _CONTROL_ID.fullmatch(control_id.strip()) if isinstance(control_id, str) else None
    return (hit.group(1).lower(), int(hit.group(2))) if hit else None


def aws_control_link(control_id: str | None) -> str | None:
    """The AWS Security Hub controls reference of a control id like "EC2.6"; None for an id of another shape."""
    parsed = parse_aws_control_id(control_id)
    return AWS_CONTROLS_DOC.format(svc=parsed[0], n=parsed[1]) if parsed else None


def recommendation_portal_link(key: str) -> str:
    """The portal page of a recommendation (its assessment key)."""
    return REC_PORTAL.format(key=key)


# ----------------------------------------------------------------------------------------------- steps

@dataclass(frozen=True)
class Steps:
    """A remediation text: what comes before its numbered steps (all of it when it has none), then the steps."""

    intro: str
    steps: tuple[str, ...] = ()


_BREAK = re.compile(r"<\s*br\s*/?\s*>|<\s*/?\s*(?:p|div|ol|ul)(?:\s[^>]*)?>", re.I)
_ITEM = re.compile(r"<\s*li(?:\s[^>]*)?>", re.I)
_ITEM_END = re.compile(r"<\s*/\s*li\s*>", re.I)
_MARKER = re.compile(r"(?:^|(?<=[\s:;]))(\d{1,2})[.)](?=\s)")


def _natural(s: str) -> tuple[Any, ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in re.split(r"(\d+)", s) if p)


def _squash(s: str) -> str:
    return " ".join(s.split())


def split_steps(text: str | None) -> Steps:
    """Split `remediationDescription` into numbered steps when it has them ("1. … 2. …", one per line or inline,
    "1)" too; or HTML list items), else the whole text as the intro. Markers count only in sequence from 1, so a
    stray number ("TLS 1.2", "within 90 days. 2 …") does not start a step; whitespace is collapsed."""
    if not text or not text.strip():
        return Steps("")
    if _ITEM.search(text):  # an HTML list: each item a step, what precedes the first one the intro
        head, *items = _ITEM.split(text)
        steps = tuple(s for s in (_squash(_BREAK.sub(" ", _ITEM_END.sub(" ", i))) for i in items) if s)
        if steps:
            return Steps(_squash(_BREAK.sub(" ", head)), steps)
    text = _BREAK.sub("\n", text)
    chosen: list[re.Match[str]] = []
    for hit in _MARKER.finditer(text):
        if int(hit.group(1)) == len(chosen) + 1:
            chosen.append(hit)
    if len(chosen) < 2:
        return Steps(_squash(text))
    bounds = [h.start() for h in chosen[1:]] + [len(text)]
    steps = tuple(_squash(text[h.end():end]) for h, end in zip(chosen, bounds))
    return Steps(_squash(text[:chosen[0].start()]), steps)


# ----------------------------------------------------------------------------------------------- resources

@dataclass(frozen=True)
class ResourceGroup:
    """The affected resources of one AWS account (None: unattributed) in one region."""

    aws_account_id: str | None
    region: str | None
    resources: tuple[str, ...]  # names, sorted (numbers by value); one per assessment row (de-duplicated by id)


def resource_label(r: m.Recommendation) -> str:
    """A row's resource: its name, else its entity (the assessment id without the assessment part)."""
    return r.resource_name or r.id.split("/providers/Microsoft.Security/assessments/", 1)[0].rsplit("/", 1)[-1]


def group_resources(rows: Iterable[m.Recommendation]) -> tuple[ResourceGroup, ...]:
    """Rows (one recommendation's unhealthy ones) grouped by account and region, each row once (by id): the largest
    groups first, then by account and region."""
    seen: set[str] = set()
    by: dict[tuple[str | None, str | None], list[str]] = {}
    for r in rows:
        rid = r.id.lower()
        if rid in seen:
            continue
        seen.add(rid)
        by.setdefault((r.aws_account_id or None, r.region or None), []).append(resource_label(r))
    groups = [ResourceGroup(a, reg, tuple(sorted(names, key=_natural))) for (a, reg), names in by.items()]
    groups.sort(key=lambda g: (-len(g.resources), g.aws_account_id or "~", g.region or "~"))
    return tuple(groups)


def reach(groups: Sequence[ResourceGroup]) -> tuple[int, int]:
    """(affected resources, accounts; unattributed rows count as one more) of some groups."""
    return sum(len(g.resources) for g in groups), len({g.aws_account_id for g in groups})


# ----------------------------------------------------------------------------------------------- controls

@dataclass(frozen=True)
class ControlRef:
    """A control of an AWS standard (names as Azure reports them) an assessment fails under."""

    standard: str
    control: str
    title: str | None = None

    @property
    def link(self) -> str | None:
        return aws_control_link(self.control)

    @property
    def standard_display(self) -> str:
        return self.standard.replace("-", " ")  # as model.standard_display_name (not imported: see the docstring)


def parse_failing_pair(row: Any) -> tuple[str, str, str, str] | None:
    """A FAILING_PAIRS_QUERY row -> (subscription id, standard, control, assessment key), lower-cased where
    Azure compares case-insensitively (subscription, key); None for a row shaped otherwise."""
    if not isinstance(row, Mapping):
        return None
    vals = [v.strip() if isinstance(v := row.get(k), str) else ""
            for k in ("subscriptionId", "standard", "control", "assessmentKey")]
    if not all(vals):
        return None
    sub, std, ctl, key = vals
    return sub.lower(), std, ctl, key.lower()


def failing_pairs(rows: Iterable[tuple[str, str, str, str]], aws_subscriptions: Iterable[str],
                  standards: Iterable[str]) -> set[tuple[str, str, str]]:
    """(standard, control, assessment key) of parsed FAILING_PAIRS_QUERY rows in the subscriptions that host an AWS
    connector and of the AWS standards (names matched case-insensitively, as Azure does; spelled as `standards`)."""
    subs = {s.lower() for s in aws_subscriptions}
    spelled = {s.lower(): s for s in standards}
    out: set[tuple[str, str, str]] = set()
    for sub, std, ctl, key in rows:
        name = spelled.get(std.lower())
        if sub.lower() in subs and name is not None:
            out.add((name, ctl, key.lower()))
    return out


def control_index(pairs: Iterable[tuple[str, str, str]], controls: Iterable[m.ComplianceControl] = ()
                  ) -> dict[str, tuple[ControlRef, ...]]:
    """Assessment key (lower-case) -> the controls it fails under, sorted by standard then control (titles from
    `controls`, the standards' control listings, where known)."""
    titles = {(c.standard.lower(), c.name.lower()): c.description for c in controls}
    out: dict[str, set[ControlRef]] = {}
    for std, ctl, key in pairs:
        out.setdefault(key.lower(), set()).add(ControlRef(std, ctl, titles.get((std.lower(), ctl.lower()))))
    return {k: tuple(sorted(v, key=lambda c: (c.standard.lower(), _natural(c.control)))) for k, v in out.items()}


# ----------------------------------------------------------------------------------------------- the runbook

@dataclass(frozen=True)
class RecommendationEntry:
    """One recommendation with unhealthy resources: how to fix it, under which controls, where."""

    assessment_key: str
    title: str
    severity: str
    description: str | None
    remediation: str | None
    steps: Steps
    controls: tuple[ControlRef, ...]
    portal: str
    groups: tuple[ResourceGroup, ...]
    affected: int
    accounts: int


@dataclass(frozen=True)
class ControlEntry:
    """A failing control of an AWS standard and the recommendations failing under it."""

    standard: str
    control: str
    title: str | None
    link: str | None
    severity: str  # the most severe of its recommendations with unhealthy resources; "Unknown" without any
    recommendations: tuple[str, ...]  # assessment keys failing under it: those in the runbook first, in its order
    affected: int  # unhealthy resources of those recommendations (each once)
    accounts: int
    failed_assessments: int  # as Azure counts them (the controls listing's FAILING)

    @property
    def standard_display(self) -> str:
        return self.standard.replace("-", " ")


@dataclass(frozen=True)
class Runbook:
    generated_at: datetime | None
    controls: tuple[ControlEntry, ...]
    recommendations: tuple[RecommendationEntry, ...]
    account_names: Mapping[str, str]
    notes: tuple[str, ...] = ()  # what is missing and why (a section that failed): said, never hidden


def severity_rank(severity: str | None) -> int:
    return SEVERITY_RANK.get((severity or "").lower(), len(SEVERITY_RANK))


def _first(rows: Sequence[m.Recommendation], attr: str) -> str | None:
    return next((v for r in rows if (v := getattr(r, attr))), None)


def build_runbook(recs: Iterable[m.Recommendation], failing_controls: Iterable[m.ComplianceControl],
                  pairs: Iterable[tuple[str, str, str]], *, generated_at: datetime | None = None,
                  account_names: Mapping[str, str] | None = None, notes: Sequence[str] = ()) -> Runbook:
    """The runbook of some recommendation rows (every status: the unhealthy ones count), the failing controls of the
    AWS standards and the (standard, control, assessment key) failing pairs. Recommendations: each assessment key
    with an unhealthy row; controls: each failing control. Both ordered by severity, then affected resources, then
    accounts (then title / standard and control, for a stable order)."""
    failing = [c for c in failing_controls if c.state == "Failed"]
    index = control_index(pairs, failing)
    by_key: dict[str, list[m.Recommendation]] = {}
    for r in recs:
        if (r.status or "").lower() == "unhealthy":
            by_key.setdefault(r.assessment_key.lower(), []).append(r)
    entries = []
    for key, rows in by_key.items():
        groups = group_resources(rows)
        affected, accounts = reach(groups)
        remediation = _first(rows, "remediation")
        entries.append(RecommendationEntry(
            assessment_key=key, title=_first(rows, "title") or key, severity=str(_first(rows, "severity") or "Unknown"),
            description=_first(rows, "description"), remediation=remediation, steps=split_steps(remediation),
            controls=index.get(key, ()), portal=recommendation_portal_link(key), groups=groups, affected=affected,
            accounts=accounts))
    entries.sort(key=lambda e: (severity_rank(e.severity), -e.affected, -e.accounts, e.title.lower(),
                                e.assessment_key))
    position = {e.assessment_key: n for n, e in enumerate(entries)}
    entry_of = {e.assessment_key: e for e in entries}
    keys_of: dict[tuple[str, str], set[str]] = {}
    for std, ctl, key in pairs:
        keys_of.setdefault((std.lower(), ctl.lower()), set()).add(key.lower())
    controls = []
    for c in failing:
        keys = sorted(keys_of.get((c.standard.lower(), c.name.lower()), ()),
                      key=lambda k: (position.get(k, len(position)), k))
        mine = [entry_of[k] for k in keys if k in entry_of]
        # reach over the resources (each once, by id) of every recommendation failing under the control
        rows = [r for k in keys for r in by_key.get(k, ())]
        affected, accounts = reach(group_resources(rows))
        sev = min((e.severity for e in mine), key=severity_rank, default="Unknown")
        controls.append(ControlEntry(c.standard, c.name, c.description, aws_control_link(c.name), sev, tuple(keys),
                                     affected, accounts, c.failed_assessments))
    controls.sort(key=lambda c: (severity_rank(c.severity), -c.affected, -c.accounts, c.standard.lower(),
                                 _natural(c.control)))
    return Runbook(generated_at, tuple(controls), tuple(entries), dict(account_names or {}), tuple(notes))


# ----------------------------------------------------------------------------------------------- text

def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


# Backslash-escaped wherever they are: no link or image (`![x](https://…)` has no `[` left to open one; `(`, `)` and
# `!` do nothing without it, and stay as they are to keep the text readable), no emphasis, code span, strikethrough
# or table break. `<` and `>` become entities: no raw HTML, no autolink.
_MD_PUNCT = re.compile(r"([\\`*_\[\]|~])")
# escaped at the start of the text (a line of its own: a heading, list item, rule or setext underline otherwise)
_MD_LEAD = re.compile(r"\A(?:([#+=-])|(\d{1,9})([.)])(?=\s|\Z))")


def md_text(s: str | None) -> str:
    """Data as Markdown text: one line, no raw HTML, no table break, no link or image (`![x](https://…)` stays
    text), no emphasis or code span, and no heading, list or rule when it starts a line."""
    t = _MD_PUNCT.sub(r"\\\1", _squash(s or "")).replace("<", "&lt;").replace(">", "&gt;")
    return _MD_LEAD.sub(lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), t)


def _url(u: str) -> str:
    """A link of ours written bare (the text of it data: an assessment key): what Markdown or HTML would read as
    structure percent-encoded (the same address)."""
    from urllib.parse import quote

    return quote(u, safe="/:#?&=%.-_,;@+$")


def _code(s: str) -> str:
    """Data as a code span, or as text when it holds what would end the span or the table cell."""
    return f"`{s}`" if s and not any(ch in s for ch in "`|\n\r\\") else md_text(s)


def _account(rb: Runbook, aws_account_id: str | None) -> str:
    if not aws_account_id:
        return UNATTRIBUTED
    name = rb.account_names.get(aws_account_id)
    return f"{aws_account_id} ({name})" if name and name != aws_account_id else aws_account_id


def _control_cell(c: ControlRef | ControlEntry) -> str:
    """The control id, linked to the AWS controls reference when it has one."""
    return f"[{md_text(c.control)}]({c.link})" if c.link else md_text(c.control)


def _control_md(c: ControlRef | ControlEntry) -> str:
    return f"{md_text(c.standard_display)} {_control_cell(c)}"


def to_markdown(rb: Runbook) -> str:
    """The runbook as Markdown: a summary, the failing controls (a table, each linking to its recommendations), then
    every recommendation with its steps, controls, portal link and every affected resource by account and region."""
    out = [f"# Remediation runbook {_iso(rb.generated_at) or ''}".rstrip(), ""]
    affected = sum(e.affected for e in rb.recommendations)
    accounts = len({g.aws_account_id for e in rb.recommendations for g in e.groups})
    out.append(f"{len(rb.controls)} failing controls of AWS standards · {len(rb.recommendations)} recommendations "
               f"with unhealthy resources ({affected} resources, {accounts} accounts). Most severe first, then by "
               "reach (affected resources, accounts).")
    for note in rb.notes:
        out += ["", f"> {md_text(note)}"]
    out += ["", f"## Failing controls ({len(rb.controls)})", ""]
    if rb.controls:
        out += ["| severity | standard | control | title | resources | accounts | recommendations |",
                "|---|---|---|---|---|---|---|"]
        number = {e.assessment_key: n for n, e in enumerate(rb.recommendations, 1)}
        for c in rb.controls:
            # a recommendation by its number below; a key with no unhealthy resource in view by itself
            refs = " ".join(f"#{number[k]}" if k in number else _code(k) for k in c.recommendations) or "-"
            out.append(f"| {md_text(c.severity)} | {md_text(c.standard_display)} | {_control_cell(c)} | "
                       f"{md_text(c.title) or '-'} | {c.affected} | {c.accounts} | {refs} |")
    else:
        out.append("none")
    out += ["", f"## Recommendations ({len(rb.recommendations)})"]
    for n, e in enumerate(rb.recommendations, 1):
        out += ["", f"### {n}. {md_text(e.title)}", "",
                f"- severity: {md_text(e.severity)}",
                f"- affected: {e.affected} resources in {e.accounts} accounts",
                f"- AWS controls: {', '.join(_control_md(c) for c in e.controls) or 'none failing'}",
                f"- portal: {_url(e.portal)}",
                f"- assessment key: {_code(e.assessment_key)}"]
        if e.description:
            out += ["", md_text(e.description)]
        out += ["", "**Remediation**", ""]
        if e.steps.intro:
            out += [md_text(e.steps.intro), ""]
        out += [f"{i}. {md_text(s)}" for i, s in enumerate(e.steps.steps, 1)]
        if not e.steps.intro and not e.steps.steps:
            out.append("none given")
        if out[-1] == "":
            out.pop()
        out += ["", "**Resources**", ""]
        for g in e.groups:
            out.append(f"- {md_text(_account(rb, g.aws_account_id))} · {md_text(g.region or '?')} "
                       f"({len(g.resources)}): " + ", ".join(md_text(x) for x in g.resources))
    return "\n".join(out) + "\n"


def _control_dict(c: ControlRef) -> dict[str, Any]:
    return {"standard": c.standard, "control": c.control, "title": c.title, "aws_link": c.link}


def to_dict(rb: Runbook) -> dict[str, Any]:
    """The runbook as JSON-ready data (the same facts and order as the Markdown)."""
    return {
        "generated_at": _iso(rb.generated_at),
        "notes": list(rb.notes),
        "controls": [{"standard": c.standard, "control": c.control, "title": c.title, "aws_link": c.link,
                      "severity": c.severity, "affected_resources": c.affected, "accounts": c.accounts,
                      "failed_assessments": c.failed_assessments, "recommendations": list(c.recommendations)}
                     for c in rb.controls],
        "recommendations": [{
            "assessment_key": e.assessment_key, "title": e.title, "severity": e.severity,
            "description": e.description, "remediation": e.remediation,
            "steps": {"intro": e.steps.intro, "steps": list(e.steps.steps)},
            "controls": [_control_dict(c) for c in e.controls], "portal": e.portal,
            "affected_resources": e.affected, "accounts": e.accounts,
            "resources": [{"aws_account_id": g.aws_account_id, "account_name": rb.account_names.get(
                g.aws_account_id or ""), "region": g.region, "resources": list(g.resources)} for g in e.groups],
        } for e in rb.recommendations],
    }


def to_rows(rb: Runbook) -> tuple[list[str], list[list[Any]]]:
    """One row per affected resource (the CSV form): the recommendation's rank, severity, title, key, controls,
    portal link, account, region and resource."""
    header = ["rank", "severity", "title", "assessment_key", "controls", "portal", "aws_account_id", "region",
              "resource"]
    rows = [[n, e.severity, e.title, e.assessment_key, " ".join(f"{c.standard}:{c.control}" for c in e.controls),
             e.portal, g.aws_account_id, g.region, x]
            for n, e in enumerate(rb.recommendations, 1) for g in e.groups for x in g.resources]
    return header, rows
