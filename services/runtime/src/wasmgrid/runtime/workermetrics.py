"""A supervised worker's metric updates without a system call each.

In multiprocess mode prometheus_client calls ``os.getpid()`` under its lock on every
update, to notice a fork; glibc no longer caches the pid, so that is a system call per
counter increment or histogram observation (about a dozen per Invoke). A worker's pid
read once, and read again in a forked child, tells the same thing.
"""

from __future__ import annotations

import os


def use_cached_pid() -> None:
    """Identify this process to prometheus_client by a pid kept current across forks.

    Does nothing outside multiprocess mode (no ``PROMETHEUS_MULTIPROC_DIR``). Call it
    before any metric is created: a metric keeps the value class it was made with.
    """
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return
    from prometheus_client import values

    pid = [os.getpid()]

    def refresh() -> None:
        pid[0] = os.getpid()

    os.register_at_fork(after_in_child=refresh)
    values.ValueClass = values.MultiProcessValue(process_identifier=lambda: pid[0])  # type: ignore[no-untyped-call]
