"""What the SDK raises: every error is a :class:`WasmgridError`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class WasmgridError(Exception):
    """Base of every error the SDK raises."""


class ProblemError(WasmgridError):
    """The server refused or failed a request and said why in an RFC 9457 problem.

    `type`, `title`, `status`, `detail` and `instance` are the standard members;
    `extensions` holds the rest, e.g. ``grpc_code``, and for a module that failed
    ``outcome`` (``exit``, ``trap``, ``timeout``, …), ``exit_code`` and ``stderr``.
    """

    def __init__(  # noqa: PLR0913 - the RFC 9457 members
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type: str = "about:blank",
        instance: str | None = None,
        extensions: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{title}: {detail}" if detail else title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.instance = instance
        self.extensions: dict[str, Any] = dict(extensions or {})
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def outcome(self) -> str | None:
        """How the module ended when the problem is a module's failure, else None."""
        value = self.extensions.get("outcome")
        return str(value) if value is not None else None

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked to wait before retrying (429/503), if it said."""
        value = self.extensions.get("retry_after_seconds", self.headers.get("Retry-After"))
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    def to_dict(self) -> dict[str, Any]:
        """The problem document as the server sent it (standard members and extensions)."""
        doc: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.instance:
            doc["instance"] = self.instance
        return {**doc, **self.extensions}


class UnreachableError(WasmgridError):
    """No answer from the server: connection refused, DNS, TLS or a timeout."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url = url
        self.reason = reason


class IntegrityError(WasmgridError):
    """Downloaded bytes do not match the digest (or size) they were announced with."""
