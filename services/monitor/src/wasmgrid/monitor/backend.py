"""Where expressions are evaluated: the local series store or a real Prometheus."""

from __future__ import annotations

import math
from typing import Any, Protocol

import aiohttp

from wasmgrid.common.errors import InvalidArgument, Unavailable
from wasmgrid.monitor.query import Expression, Result, label_key, to_promql
from wasmgrid.monitor.series import SeriesStore, evaluate, evaluate_range, range_instants

#: One labelled series of a range query: labels and (time, value) points in time order.
RangeResult = tuple[dict[str, str], list[tuple[float, float]]]


class Backend(Protocol):
    """Evaluates expressions at an instant."""

    name: str

    async def evaluate(self, expression: Expression, now: float) -> list[Result]:
        """The expression's results at `now` (unix seconds)."""
        ...

    async def evaluate_range(
        self, expression: Expression, start: float, end: float, step: float
    ) -> list[RangeResult]:
        """The expression at start, start + step, … end, per label set, ordered by labels."""
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

    async def evaluate_range(
        self, expression: Expression, start: float, end: float, step: float
    ) -> list[RangeResult]:
        return evaluate_range(self.store, expression, range_instants(start, end, step))

    async def close(self) -> None:
        return None


class PrometheusBackend:
    """Evaluates through a Prometheus server's HTTP API (``/api/v1/query``)."""

    name = "prometheus"

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

    async def _api(self, path: str, form: dict[str, str], kind: str) -> list[dict[str, Any]]:
        """The `result` list of a Prometheus query API answer of result type `kind`."""
        promql = form["query"]
        try:
            async with self._session.post(f"{self.url}{path}", data=form) as resp:
                doc: dict[str, Any] = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise Unavailable(f"Prometheus at {self.url} did not answer: {exc!r}") from exc
        if doc.get("status") != "success":
            message = f"Prometheus refused {promql!r}: {doc.get('error', 'unknown error')}"
            if doc.get("errorType") == "bad_data":
                raise InvalidArgument(message)
            raise Unavailable(message)
        data = doc.get("data", {})
        if data.get("resultType") != kind:
            raise Unavailable(f"Prometheus answered a {data.get('resultType')} for {promql!r}")
        return list(data.get("result", []))

    @staticmethod
    def _labels(item: dict[str, Any]) -> dict[str, str]:
        return {k: str(v) for k, v in item.get("metric", {}).items() if k != "__name__"}

    async def evaluate(self, expression: Expression, now: float) -> list[Result]:
        form = {"query": to_promql(expression), "time": f"{now:.3f}"}
        out: list[Result] = []
        for item in await self._api("/api/v1/query", form, "vector"):
            value = float(item["value"][1])
            if not math.isnan(value):
                out.append(Result(self._labels(item), value))
        return sorted(out, key=lambda r: label_key(r.labels))

    async def evaluate_range(
        self, expression: Expression, start: float, end: float, step: float
    ) -> list[RangeResult]:
        form = {
            "query": to_promql(expression),
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
        }
        out: list[RangeResult] = []
        for item in await self._api("/api/v1/query_range", form, "matrix"):
            points = [(float(t), float(v)) for t, v in item.get("values", [])]
            points = [(t, v) for t, v in points if not math.isnan(v)]
            if points:
                out.append((self._labels(item), points))
        return sorted(out, key=lambda r: label_key(r[0]))

    async def close(self) -> None:
        await self._session.close()
