"""A SIGTERM that arrives while a service is still starting stops it at once.

In a container the service is PID 1, and Linux delivers PID 1 only the signals it has
a handler for: a SIGTERM during the imports, before the event loop installs the
service's own handlers, would be dropped, and ``podman stop`` (or Kubernetes) would
wait out its whole timeout before a SIGKILL. Entry points call
:func:`exit_on_sigterm` first thing; the service's handlers replace it when installed.
"""

from __future__ import annotations

import signal
from types import FrameType


def exit_on_sigterm() -> None:
    """Until the service installs its own handler, SIGTERM exits with code 0 (a stop asked
    for before anything was serving; nothing to drain)."""
    signal.signal(signal.SIGTERM, _exit)


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
