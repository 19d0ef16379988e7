"""Where expressions are evaluated: the local series store or a real Prometheus."""

from __future__ import annotations

import math
from typing import Any, Protocol

import aiohttp

from wasmgrid.common.errors import InvalidArgument, Unavailable
from wasmgrid.monitor.query import Expression, Result, label_key, to_promql
from wasmgrid.monitor.series import SeriesStore, evaluate


class Backend(Protocol):
    """Evaluates expressions at an instant."""

    name: str

    async def evaluate(self, expression: Expression, now: float) -> list[Result]:
        """The expression's results at `now` (unix seconds)."""
        ...

    async def close(self) -> None:
        """Release resources."""
        ...


class LocalBackend:
    """Evaluates over the scraped series in memory."""

    name = "local"

    def __init__(self, store: SeriesStore) -> None:
        self.store = store

    async def evaluate(self, expression: Expression, now: float) -> list[Result]:
        return evaluate(self.store, expression, now)

    async def close(self) -> None:
        return None


class PrometheusBackend:
    """Evaluates through a Prometheus server's HTTP API (``/api/v1/query``)."""

    name = "prometheus"

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

    async def evaluate(self, expression: Expression, now: float) -> list[Result]:
        promql = to_promql(expression)
        try:
            async with self._session.post(
                f"{self.url}/api/v1/query", data={"query": promql, "time": f"{now:.3f}"}
            ) as resp:
                doc: dict[str, Any] = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise Unavailable(f"Prometheus at {self.url} did not answer: {exc!r}") from exc
        if doc.get("status") != "success":
            message = f"Prometheus refused {promql!r}: {doc.get('error', 'unknown error')}"
            if doc.get("errorType") == "bad_data":
                raise InvalidArgument(message)
            raise Unavailable(message)
        data = doc.get("data", {})
        if data.get("resultType") != "vector":
            raise Unavailable(f"Prometheus answered a {data.get('resultType')} for {promql!r}")
        out: list[Result] = []
        for item in data.get("result", []):
            labels = {k: str(v) for k, v in item.get("metric", {}).items() if k != "__name__"}
            value = float(item["value"][1])
            if not math.isnan(value):
                out.append(Result(labels, value))
        return sorted(out, key=lambda r: label_key(r.labels))

    async def close(self) -> None:
        await self._session.close()
