"""Which controls of the AWS standards each recommendation fails under, read from Azure: the remediation runbook's
(`mdc-aws export --view remediation`) and the dashboard's recommendation detail (Service.failing_controls).

A source-side module (it reads through an AzureSource or MultiTenantAzure); tui.core.runbook stays pure, so the
rendering may import it. Never imports textual or rich.
"""
from __future__ import annotations

import asyncio
from typing import Any, Sequence

from . import model as m
from .arg import FAILING_PAIRS_QUERY
from .export import aws_connector_subscriptions
from .runbook import failing_pairs, parse_failing_pair


async def failing_controls(az: Any, subscriptions: Sequence[str], snap: m.Snapshot, timeout_s: float
                           ) -> tuple[list[m.ComplianceControl], set[tuple[str, str, str]]]:
    """The controls of the snapshot's AWS standards (every state) and the (standard, control, assessment key) failing
    pairs, read through `az` (an AzureSource or several tenants' MultiTenantAzure): one paged Resource Graph query
    for every pair where there is one graph, else the drill-down's query control by control, a few at a time
    (Resource Graph throttles a burst). Raises what the reads raise; the CLI's runbook and the dashboard's
    recommendation detail both call it."""
    comp = snap.data("compliance")
    standards = [s.name for s in comp.standards] if comp is not None else []
    subs = list(subscriptions)
    if not subs or not standards:
        return [], set()
    found = await asyncio.wait_for(asyncio.gather(*(az.compliance_controls(subs, s) for s in standards)), timeout_s)
    controls = [c for per_standard in found for c in per_standard]
    graph = getattr(az, "graph", None)  # one tenant: one paged query for every failing pair
    # ... of the subscriptions that host an AWS connector only (an Azure-only subscription's standards fail too)
    aws_subs = sorted(aws_connector_subscriptions(snap))
    if graph is not None and aws_subs:
        rows = await asyncio.wait_for(graph.query_parsed(FAILING_PAIRS_QUERY, aws_subs, parse_failing_pair,
                                                         name="failing compliance assessments query"), timeout_s)
        return controls, failing_pairs(rows, aws_subs, standards)
    failed = [c for c in controls if c.state == "Failed"]
    gate = asyncio.Semaphore(4)

    async def keys_of(c: m.ComplianceControl) -> list[str]:
        async with gate:
            return list(await az.compliance_failing_assessments(subs, c.standard, c.name))

    keys = await asyncio.wait_for(asyncio.gather(*(keys_of(c) for c in failed)), timeout_s)
    return controls, {(c.standard, c.name, k.lower()) for c, ks in zip(failed, keys) for k in ks}
