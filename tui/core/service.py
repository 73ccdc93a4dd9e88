"""The data service the dashboard talks to: sources + collector + history on a private event loop in a thread.

The aio SDK clients decode big pages on their loop; running them on the UI loop would cost key latency. The UI
calls these blocking methods from its own thread workers and hands results to widgets by message.

Never imports textual or rich.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Protocol, Sequence, TypeVar, runtime_checkable

from . import derive as d
from . import model as m
from .config import Settings
from .history import History

if TYPE_CHECKING:
    from .progress import ProgressFn

log = logging.getLogger(__name__)
T = TypeVar("T")


class Service:
    def __init__(self, settings: Settings, history: History | None = None, *, section_timeout_s: float = 120.0,
                 start_from: m.Snapshot | None = None) -> None:
        self.settings = settings
        self.history = history
        self.section_timeout_s = section_timeout_s
        self._start_from = start_from
        self.last_snapshot: m.Snapshot | None = start_from  # the newest collection (accounts for recommendations)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="mdc-aws-service", daemon=True)
        self._ready = threading.Event()
        self._azure: Any = None
        self._aws: Any = None
        self._collector: Any = None
        self._closed = False
        # called (no arguments) between a collection and its saving: the collector process gives its garbage and
        # free heap back there (tui.core.memory), as the history's JSON text of the snapshot is its peak
        self.before_save: Callable[[], None] | None = None
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._ready.set()
        self._loop.run_forever()

    def _call(self, coro_fn: Callable[[], Coroutine[Any, Any, T]], timeout: float | None = None) -> T:
        if self._closed:
            raise RuntimeError("service closed")
        fut = asyncio.run_coroutine_threadsafe(coro_fn(), self._loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise

    async def _ensure(self) -> None:
        if self._collector is not None:
            return
        from .aws import AwsSource
        from .azure import azure_source
        from .collect import Collector

        self._azure = azure_source(self.settings)  # one AzureSource; one per tenant with [[tenants]] configured
        self._aws = AwsSource(self.settings.aws, lean_models=True)  # the Collector's: tui.core.awsmodels
        self._collector = Collector(self._azure, self._aws, section_timeout_s=self.section_timeout_s)
        if self._start_from is not None:
            self._collector.seed(self._start_from)

    @property
    def history_error(self) -> str | None:
        """Why the history is disabled (it could not be opened or written), else None: the dashboard says it."""
        return getattr(self.history, "error", None) if self.history is not None else None

    # ------------------------------------------------------------------------------------------- blocking API

    def collect(self) -> m.Snapshot:
        """One full collection (all sections concurrently); saved to history when it has any fresh section."""
        async def go() -> m.Snapshot:
            await self._ensure()
            return await self._collector.collect()

        snap = self._call(go)
        self.last_snapshot = snap
        if self.history is not None and any(s.status.status == "ok" for s in snap.sections.values()):
            if self.before_save is not None:
                self.before_save()
            try:
                self.history.save(snap)  # a write that fails disables the history (history_error says why)
            except Exception:  # broad: anything else in saving must not stop the dashboard either (logged)
                log.warning("could not save history", exc_info=True)
        return snap

    def recommendations(self, subscriptions: Sequence[str] | None = None) -> list[m.Recommendation]:
        async def go() -> list[m.Recommendation]:
            await self._ensure()
            subs = list(subscriptions if subscriptions is not None else self._collector.subscriptions)
            return list(await asyncio.wait_for(self._azure.recommendations(subs), self.section_timeout_s))

        return self._call(go)

    def recommendation_table(self, snap: m.Snapshot | None = None, *,
                             progress: ProgressFn | None = None) -> Any:
        """Recommendations with their accounts attached (from ``snap``, default the newest collection) and every
        sort order of the table computed: a :class:`tui.core.rectable.RecTable`. ``progress(rows, total)`` is
        called per page on the service's thread (tui.core.progress: throttle it before it reaches a UI)."""
        from .rectable import RecTable

        rows: list[m.Recommendation] = []
        orders = self.stream_recommendation_table(rows.extend, snap, progress=progress)
        return RecTable(rows, orders)

    def stream_recommendation_table(self, emit: Callable[[list[m.Recommendation]], None],
                                    snap: m.Snapshot | None = None, *,
                                    progress: ProgressFn | None = None) -> dict[tuple[str, bool], Any]:
        """The recommendations page by page to ``emit`` (accounts attached; called on the service's thread), then
        every sort order of the table (positions in the order emitted). The rows are not kept here.
        ``progress(rows, total)``: after each page, the rows received and the total Resource Graph announced."""
        from .progress import page_progress
        from .rectable import OrderBuilder

        snap = snap or self.last_snapshot
        orders = OrderBuilder()

        def on_rows(page: list[m.Recommendation]) -> None:
            page = d.attach_accounts(page, snap)
            orders.add(page)
            emit(page)

        async def go() -> None:
            await self._ensure()
            subs = list(self._collector.subscriptions)
            kw: dict[str, Any] = {} if progress is None else {"progress": page_progress(progress)}
            await asyncio.wait_for(self._azure.recommendations(subs, on_rows=on_rows, **kw), self.section_timeout_s)

        self._call(go)
        return orders.orders()

    def compliance_controls(self, standard: str) -> list[m.ComplianceControl]:
        async def go() -> list[m.ComplianceControl]:
            await self._ensure()
            subs = list(self._collector.subscriptions)
            return list(await asyncio.wait_for(self._azure.compliance_controls(subs, standard),
                                               self.section_timeout_s))

        return self._call(go)

    def compliance_failing_keys(self, standard: str, control: str) -> list[str]:
        """Assessment keys (recommendations) failing under one control."""
        async def go() -> list[str]:
            await self._ensure()
            subs = list(self._collector.subscriptions)
            fn = getattr(self._azure, "compliance_failing_assessments", None)
            if fn is None:
                return []
            return list(await asyncio.wait_for(fn(subs, standard, control), self.section_timeout_s))

        return self._call(go)

    def failing_controls(self) -> tuple[list[m.ComplianceControl], list[tuple[str, str, str]]]:
        """The controls of the newest collection's AWS standards and their (standard, control, assessment key) failing
        pairs (tui.core.controlmap.failing_controls): the AWS control ids of the recommendation detail."""
        async def go() -> tuple[list[m.ComplianceControl], list[tuple[str, str, str]]]:
            from .controlmap import failing_controls

            await self._ensure()
            snap = self.last_snapshot
            if snap is None or snap.data("compliance") is None:
                from .errors import SourceError

                raise SourceError("the compliance section has not loaded (see its pane); the controls are read "
                                  "from it")
            controls, pairs = await failing_controls(self._azure, list(self._collector.subscriptions), snap,
                                                             self.section_timeout_s)
            return controls, sorted(pairs)

        return self._call(go)

    def close(self) -> None:
        if self._closed:
            return

        async def shut() -> None:
            for src in (self._aws, self._azure):
                if src is not None:
                    try:
                        await src.__aexit__(None, None, None)
                    except Exception:  # noqa: BLE001 - closing: one source's failure must not keep the others open
                        pass

        try:
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
        except Exception:  # noqa: BLE001 - closing: a loop that is gone or stuck is left to exit
            pass
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@runtime_checkable
class DashboardService(Protocol):
    """What the dashboard needs from its data service: `Service` here (in-process), `ProcessService` (the collector
    process, the default) and the tests' fakes. Every method blocks: the app calls them from thread workers."""

    def collect(self) -> m.Snapshot:
        """A fresh snapshot (saved to the history by the service)."""
        ...

    def recommendations(self) -> list[m.Recommendation]:
        """Every AWS recommendation of the subscriptions in scope, without accounts attached."""
        ...

    def compliance_controls(self, standard: str) -> list[m.ComplianceControl]:
        ...

    def compliance_failing_keys(self, standard: str, control: str) -> list[str]:
        ...

    def close(self) -> None:
        ...


@runtime_checkable
class ControlIndexService(Protocol):
    """A service that also reads which controls of the AWS standards each recommendation fails under: `Service` and
    `ProcessService`."""

    def failing_controls(self) -> tuple[list[m.ComplianceControl], list[tuple[str, str, str]]]:
        ...


@runtime_checkable
class TableService(Protocol):
    """A service that also serves the recommendations ready for the pane (accounts attached, every sort order
    computed where they were fetched): `Service` and `ProcessService`. Both also take ``progress=`` (a
    tui.core.progress.ProgressFn: rows so far and the announced total, while the rows arrive); a service whose
    method has no such parameter is simply not asked (the app checks the signature)."""

    def recommendation_table(self) -> Any:
        ...

