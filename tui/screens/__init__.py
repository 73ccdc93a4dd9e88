"""The screens. Importing this package costs nothing: the dashboard's first frame loads `dashboard` only.

    dashboard.py    the default screen: the five panes, their keys, the `:` line, opening drill-downs
    detail.py       drill-downs: DetailScreen (one thing), ListScreen (rows), HelpScreen, Breadcrumb
    onboarding/     the guided onboarding (wizard, classic flow, removal): `o`, or `mdc-aws onboard`
"""
