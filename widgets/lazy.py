"""``textual.lazy.Lazy`` that gives up quietly when the app is already closing.

Textual's Lazy mounts its widget after the first refresh; an app told to quit before that (``q`` typed during
start-up, a script, a test) then raised MountError with a traceback on screen. Here the late mount is skipped
when its parent is gone."""
from __future__ import annotations

from textual.lazy import Lazy
from textual.widget import MountError, Widget


class SafeLazy(Lazy):
    async def mount_composed_widgets(self, widgets: list[Widget]) -> None:
        parent = self.parent
        if parent is None:
            return
        assert isinstance(parent, Widget)

        async def mount() -> None:
            # Textual's own flags of a widget being removed (no public equivalent): mounting into it would fail
            if (not parent.is_attached or parent._closing or parent._pruning  # noqa: SLF001
                    or not self.is_attached):
                return
            try:
                await parent.mount(self._replace_widget, after=self)
                await self.remove()
            except MountError:  # the app closed between the check and the mount
                pass

        self.call_after_refresh(mount)
