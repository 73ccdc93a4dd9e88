"""Links: Azure portal pages (of a resource, of a recommendation, of any selection the dashboard shows, by its type)
and the AWS Security Hub controls reference of a control id. The recommendation and AWS ones are built by
tui.core.runbook (the remediation export writes the same links)."""
from __future__ import annotations

from tui.core.runbook import REC_PORTAL, aws_control_link, recommendation_portal_link

__all__ = ["COMPLIANCE_PORTAL", "PORTAL", "REC_PORTAL", "aws_control_link", "portal_link", "recommendation_link",
           "resource_link"]

PORTAL = "https://portal.azure.com/#@{tenant}/resource{id}"
COMPLIANCE_PORTAL = "https://portal.azure.com/#view/Microsoft_Azure_Security/SecurityMenuBlade/~/22"


def resource_link(tenant_id: str | None, resource_id: str) -> str:
    """The portal page of an ARM resource (a connector, an Arc machine) in the tenant ("common" when unknown)."""
    return PORTAL.format(tenant=tenant_id or "common", id=resource_id)


def recommendation_link(key: str) -> str:
    """The portal page of a recommendation (its assessment key)."""
    return recommendation_portal_link(key)


def portal_link(target: object, tenant_id: str | None) -> str | None:
    """The portal link of a selection, by its type: an account (AccountView) or an onboarding row (RegionStuck) ->
    the account's first connector; a Recommendation -> its recommendation page; a ComplianceStandard -> the
    regulatory compliance page; anything else (None included) -> None."""
    if target is None:
        return None
    # a selection with a payload exists only once the snapshot has loaded: the core's types are loaded by then
    from tui.core.derive import AccountView
    from tui.core.model import ComplianceStandard, Recommendation

    from .rows import RegionStuck

    if isinstance(target, RegionStuck):
        target = target.view
    if isinstance(target, AccountView):
        return resource_link(tenant_id, target.connectors[0].id) if target.connectors else None
    if isinstance(target, Recommendation):
        return recommendation_link(target.assessment_key)
    if isinstance(target, ComplianceStandard):
        return COMPLIANCE_PORTAL
    return None
