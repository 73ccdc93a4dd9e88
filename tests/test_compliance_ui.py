"""The compliance pane, `:compliance <part of a name>` and the account detail's standards (issue 11, point 1), through
Textual's Pilot over the in-memory sources of test_app_pilot."""
from __future__ import annotations

from tests.test_app_pilot import FakeService, make_app, screen_text, settle
from tests.test_collect import FakeAzure
from tui.core import model as m
from tui.render.rows import name_words, standards_matching

STANDARDS = (
    m.ComplianceStandard("Microsoft-cloud-security-benchmark", 40, 10, 3, 7),
    m.ComplianceStandard("AWS-Foundational-Security-Best-Practices", 76, 108, 13, 2),
    m.ComplianceStandard("AWS-PCI-DSS-3.2.1", 14, 28, 3, 0),
    m.ComplianceStandard("PCI-DSS-v4.0.1", 9, 4, 0, 1),
)


class AzureWithStandards(FakeAzure):
    async def compliance(self, subs):
        await self._step("compliance")
        return m.ComplianceData(STANDARDS, {"111111111111": ("Microsoft-cloud-security-benchmark", "PCI-DSS-v4.0.1")})


def test_standards_match_by_any_part_of_their_name() -> None:
    names = lambda text: [s.name for s in standards_matching(STANDARDS, text)]  # noqa: E731
    assert names("cloud security") == names("Cloud-Security") == ["Microsoft-cloud-security-benchmark"]
    assert names("pci") == ["AWS-PCI-DSS-3.2.1", "PCI-DSS-v4.0.1"]
    assert names("dss v4") == ["PCI-DSS-v4.0.1"]
    assert names("  ") == [] and names("nist") == []
    assert name_words("AWS_Foundational--Security ") == "aws foundational security"


async def test_pane_command_and_account_detail() -> None:
    app = make_app(FakeService(AzureWithStandards()))
    # tall enough that the account detail shows its standards below the health section (what this fake service
    # cannot read is listed there as "not checked")
    async with app.run_test(size=(120, 60)) as pilot:
        await settle(pilot, app, lambda: app.dashboard.pane("compliance").state == "ok")
        await pilot.press("5")
        await pilot.pause()
        pane = app.dashboard.pane("compliance")
        cells = {it.key: it.cells for it in pane.items}
        assert cells["Microsoft-cloud-security-benchmark"][0] == "Microsoft-cloud-security-benchmark"
        assert cells["Microsoft-cloud-security-benchmark"][2:6] == ("40", "10", "3", "7")  # pass fail skip unsup
        assert "UNSUP" in screen_text(app)
        # several standards match: the pane shows them
        await pilot.press("colon", *"compliance pci", "enter")
        await pilot.pause()
        assert [it.key for it in pane.shown] == ["AWS-PCI-DSS-3.2.1", "PCI-DSS-v4.0.1"]
        # one matches, by words of its name the way the portal writes it: its controls open
        await pilot.press("colon", *"compliance cloud security", "enter")
        await settle(pilot, app, lambda: "controls failing" in screen_text(app))
        assert "Microsoft-cloud-security-benchmark" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        # the account detail lists the standards assigned to the account
        await pilot.press("1", "enter")
        await settle(pilot, app, lambda: "Compliance standards" in screen_text(app))
        text = screen_text(app)
        assert "Microsoft-cloud-security-benchmark" in text and "PCI-DSS-v4.0.1" in text
        assert "AWS-PCI-DSS-3.2.1" not in text  # not assigned to this account
