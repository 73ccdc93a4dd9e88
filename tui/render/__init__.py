"""Rendering, pure: functions from the snapshot (and the view state) to the rows and text the UI shows.

`rows` builds the dashboard panes' rows (`Item`s) and holds the panes' columns and cell helpers; `detail` builds
every drill-down's content (an account, a region's stuck instances, an instance, a recommendation, a standard's
controls, a control's failing resources) as data (`Detail`, `Listing`); `links` gives the Azure portal link of any
selection, chosen by its type. Widgets and screens only display what these return; the tests call them without
Textual (tests/test_render.py).

Imports rich (Text) and the core only, never textual. `rows` is imported on the dashboard's first frame (painted
from the cached view): the core's types are imported under TYPE_CHECKING or inside the functions that need them.
"""
