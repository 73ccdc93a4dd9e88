"""Errors the core raises: one line that says what is wrong and what to do. Never a traceback for the user."""
from __future__ import annotations


class SourceError(Exception):
    """A source (Azure or AWS) could not deliver a section. `str(e)` is one line: the cause and the fix."""

    def __init__(self, message: str, *, kind: str = "error", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        # kind: "auth" (credentials/permissions), "throttled", "network", "server", "malformed", "usage", "error"
        self.kind = kind
        self.retry_after = retry_after

    def __str__(self) -> str:  # one line, always
        return " ".join(self.message.split())


class AuthError(SourceError):
    """Missing/expired credentials or no access: the CLI exits 2 when nothing at all could be read because of it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="auth")


class UsageError(SourceError):
    def __init__(self, message: str) -> None:
        super().__init__(message, kind="usage")
