"""Scraping the services' Prometheus exposition into the local series store.

The exposition is parsed with prometheus_client's own parser. Each scraped
series gets ``job`` (the service) and ``instance`` (host:port of the metrics
URL) labels, as Prometheus would add; an ``up`` series records whether the
scrape worked, so a dead target is visible in rules.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import aiohttp
from prometheus_client import Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from wasmgrid.common.tasks import cancel_and_wait
from wasmgrid.monitor.fleet import Fleet, Replica
from wasmgrid.monitor.loops import every
from wasmgrid.monitor.series import SeriesStore

log = logging.getLogger(__name__)

SCRAPES = Counter("wasmgrid_monitor_scrapes_total", "Metrics scrapes by outcome.", ["outcome"])
SCRAPE_SECONDS = Histogram(
    "wasmgrid_monitor_scrape_seconds",
    "Time to fetch and parse one exposition.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

Sample = tuple[str, dict[str, str], float]


class ScrapeError(Exception):
    """A scrape failed; the message says why."""


def parse_exposition(text: str, job: str, instance: str) -> list[Sample]:
    """Samples of a text exposition with job/instance labels added (``_created`` skipped)."""
    out: list[Sample] = []
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name.endswith("_created"):
                    continue  # creation timestamps, not values
                labels = dict(s.labels)
                for key, value in (("job", job), ("instance", instance)):
                    if key in labels:
                        labels[f"exported_{key}"] = labels[key]
                    labels[key] = value
                out.append((s.name, labels, float(s.value)))
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise ScrapeError(f"exposition does not parse: {exc!r}") from exc
    return out


def instance_of(url: str) -> str:
    """host:port of a metrics URL (Prometheus's ``instance`` label)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


class Scraper:
    """Scrapes every replica with a metrics URL on an interval."""

    def __init__(  # noqa: PLR0913 - keyword-only settings
        self,
        fleet: Fleet,
        store: SeriesStore,
        *,
        interval: float,
        timeout: float,
        max_bytes: int,
        retention: float,
        on_round: Callable[[float], None] | None = None,
    ) -> None:
        self.fleet = fleet
        self.store = store
        self.interval = interval
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.retention = retention
        self.rounds = 0
        self._on_round = on_round
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start scraping in the background."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"Accept": "text/plain;version=0.0.4"},
        )
        self._task = asyncio.create_task(self._loop(), name="scrape")

    async def stop(self) -> None:
        """Stop scraping and close the HTTP session."""
        await cancel_and_wait(self._task)
        if self._session is not None:
            await self._session.close()

    async def _loop(self) -> None:
        await every("scrape", self.interval, self.scrape_once)

    def dead_task(self) -> str | None:
        """ "scrape" if the scrape loop ended (it should run forever)."""
        return "scrape" if self._task is not None and self._task.done() else None

    async def scrape_once(self) -> None:
        """Scrape every replica once, concurrently, then drop series past retention."""
        now = time.time()
        replicas = [r for r in self.fleet.replicas.values() if r.metrics_url]
        await asyncio.gather(*(self._scrape(r, now) for r in replicas))
        self.store.drop_older_than(now - self.retention)
        self.rounds += 1
        if self._on_round is not None:
            self._on_round(now)

    async def _fetch(self, url: str) -> str:
        assert self._session is not None
        async with self._session.get(url) as resp:
            if resp.status != 200:
                raise ScrapeError(f"HTTP {resp.status} from {url}")
            body = bytearray()
            async for chunk in resp.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > self.max_bytes:
                    raise ScrapeError(
                        f"exposition from {url} exceeds"
                        f" WASMGRID_MONITOR_SCRAPE_MAX_BYTES={self.max_bytes}"
                    )
            return body.decode("utf-8", errors="replace")

    async def _scrape(self, replica: Replica, now: float) -> None:
        job, instance = replica.service, instance_of(replica.metrics_url)
        t0 = time.perf_counter()
        try:
            text = await self._fetch(replica.metrics_url)
            samples = await asyncio.to_thread(parse_exposition, text, job, instance)
        except (ScrapeError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            replica.metrics_up = False
            replica.metrics_error = str(exc) or type(exc).__name__
            SCRAPES.labels("error").inc()
            self.store.add("up", {"job": job, "instance": instance}, now, 0.0)
        else:
            for name, labels, value in samples:
                self.store.add(name, labels, now, value)
            replica.metrics_up = True
            replica.metrics_error = ""
            SCRAPES.labels("ok").inc()
            self.store.add("up", {"job": job, "instance": instance}, now, 1.0)
        elapsed = time.perf_counter() - t0
        SCRAPE_SECONDS.observe(elapsed)
        self.store.add("scrape_duration_seconds", {"job": job, "instance": instance}, now, elapsed)
        replica.last_scrape = time.time()
