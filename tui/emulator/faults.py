"""Fault injection, ARG-style quota and the request log of the emulated endpoints.

Everything here is thread-safe: tests (and the admin routes of a subprocess emulator) change rules from another
thread while the server's event loop reads them.

    faults = FaultConfig()
    faults.add(FaultRule(path_regex=".*securityConnectors.*", kind="503", times=2))
    faults.add(FaultRule(path_regex="ResourceGraph", kind="latency", latency_ms=300))     # every request
    faults.add(FaultRule(path_regex=".*", kind="reset", probability=0.1))

Kinds:
    latency    sleep `latency_ms`, then carry on (combines with the other rules)
    429        429 with Retry-After (`retry_after_s`); ARG paths also get the quota headers with remaining 0
    500 / 503  ARM error body (503 also carries Retry-After)
    reset      the TCP connection is aborted without any response
    malformed  200 with a body that is not valid JSON (`malformed="truncated"`) or valid JSON of the wrong
               shape (`malformed="shape"`); the real handler runs first, so writes still happen
"""
from __future__ import annotations

import random
import re
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

FAULT_KINDS = ("latency", "429", "500", "503", "reset", "malformed")
MALFORMED_KINDS = ("truncated", "shape")


@dataclass
class FaultRule:
    path_regex: str = ".*"
    method: str | None = None  # None = any method
    kind: str = "500"
    times: int | None = None  # None = always; otherwise applied to the next N matching requests
    probability: float | None = None  # None = every matching request (subject to `times`)
    latency_ms: int = 0
    retry_after_s: float = 1
    malformed: str = "truncated"
    applied: int = field(default=0, compare=False)  # how many requests this rule has hit so far

    def __post_init__(self) -> None:
        self.kind = str(self.kind)
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.malformed not in MALFORMED_KINDS:
            raise ValueError(f"unknown malformed kind {self.malformed!r}; expected one of {MALFORMED_KINDS}")
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0 or None")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if self.method is not None:
            self.method = self.method.upper()
        self._rx = re.compile(self.path_regex, re.IGNORECASE)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self._rx.search(path) is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FaultRule":
        known = {
            "path_regex", "method", "kind", "times", "probability", "latency_ms", "retry_after_s", "malformed",
        }
        unknown = set(d) - known - {"applied"}
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class FaultDecision:
    """What to do with one request: total latency first, then at most one terminal fault."""

    latency_ms: int = 0
    terminal: FaultRule | None = None
    applied: list[str] = field(default_factory=list)

    @property
    def label(self) -> str | None:
        return ",".join(self.applied) or None


class FaultConfig:
    def __init__(self, rules: list[FaultRule] | None = None, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._random = random.Random(seed)
        for r in rules or []:
            self.add(r)

    def add(self, rule: FaultRule | dict[str, Any]) -> FaultRule:
        if isinstance(rule, dict):
            rule = FaultRule.from_dict(rule)
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if r is not rule]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def __len__(self) -> int:
        with self._lock:
            return len(self._rules)

    def decide(self, method: str, path: str) -> FaultDecision:
        """Consume the rules that fire for this request (decrementing `times`)."""
        decision = FaultDecision()
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.times is not None and rule.applied >= rule.times:
                    continue
                if rule.probability is not None and self._random.random() >= rule.probability:
                    continue
                if rule.kind == "latency":
                    rule.applied += 1
                    decision.latency_ms += int(rule.latency_ms)
                    decision.applied.append(f"latency:{int(rule.latency_ms)}ms")
                    continue
                if decision.terminal is not None:
                    continue  # one terminal fault per request; later rules keep their budget
                rule.applied += 1
                decision.terminal = rule
                decision.applied.append(
                    f"malformed:{rule.malformed}" if rule.kind == "malformed" else rule.kind
                )
        return decision


# ------------------------------------------------------------------------------------------------------------------
# ARG quota (per user): "at most `limit` queries within every `window_s`-second window"


@dataclass
class Quota:
    limit: int = 15
    window_s: float = 5.0


@dataclass
class QuotaState:
    allowed: bool
    remaining: int
    resets_after_s: float

    @property
    def resets_after(self) -> str:
        return format_hms(self.resets_after_s)

    @property
    def retry_after(self) -> str:
        return str(max(1, int(-(-self.resets_after_s // 1))))


def format_hms(seconds: float) -> str:
    s = max(0, int(-(-seconds // 1)))  # ceil
    return f"{s // 3600:02d}:{(s % 3600) // 60:02d}:{s % 60:02d}"


class QuotaTracker:
    """Fixed windows per user, starting at the user's first request (as ARG reports `resets-after`)."""

    UNLIMITED_REMAINING = 10_000

    def __init__(self, quota: Quota | None, clock=time.monotonic) -> None:
        self.quota = quota
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}  # user -> (window start, used)

    def _window(self, user: str, now: float) -> tuple[float, int]:
        """(start, units used) of the user's current window; a window that has passed starts afresh."""
        start, used = self._windows.get(user, (now, 0))
        if now - start >= self.quota.window_s:  # type: ignore[union-attr]
            return now, 0
        return start, used

    def take(self, user: str) -> QuotaState:
        if self.quota is None:
            return QuotaState(True, self.UNLIMITED_REMAINING, 5.0)
        q = self.quota
        now = self._clock()
        with self._lock:
            start, used = self._window(user, now)
            resets = q.window_s - (now - start)
            if used >= q.limit:
                self._windows[user] = (start, used)
                return QuotaState(False, 0, resets)
            used += 1
            self._windows[user] = (start, used)
            return QuotaState(True, q.limit - used, resets)

    def peek(self, user: str) -> QuotaState:
        """The user's state without using a unit (for responses that did not run a query)."""
        if self.quota is None:
            return QuotaState(True, self.UNLIMITED_REMAINING, 5.0)
        q = self.quota
        now = self._clock()
        with self._lock:
            start, used = self._window(user, now)
        return QuotaState(used < q.limit, max(0, q.limit - used), q.window_s - (now - start))

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


# ------------------------------------------------------------------------------------------------------------------
# Request log


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str  # raw query string (never contains secrets: bodies and headers are not logged)
    status: int | None  # None when the connection was reset
    time: float  # wall-clock epoch seconds when the request arrived
    fault: str | None = None
    duration_ms: float = 0.0
    client_request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """Thread-safe, bounded, list-like log of requests (oldest dropped past `maxlen`)."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=maxlen)

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def matching(self, path_regex: str = ".*", method: str | None = None) -> list[RequestRecord]:
        rx = re.compile(path_regex, re.IGNORECASE)
        return [
            r for r in self.records()
            if rx.search(r.path) and (method is None or r.method.upper() == method.upper())
        ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self):
        return iter(self.records())

    def __getitem__(self, i):
        return self.records()[i]

    def __bool__(self) -> bool:
        return len(self) > 0
