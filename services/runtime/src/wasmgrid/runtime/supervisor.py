"""Process entry point: one runtime process, or a supervisor of N worker processes."""

from __future__ import annotations

from wasmgrid.common.server import run
from wasmgrid.common.settings import load_settings
from wasmgrid.runtime.service import RuntimeService
from wasmgrid.runtime.settings import RuntimeSettings


def main() -> None:
    """Run the runtime as configured by ``WASMGRID_RUNTIME_*``."""
    settings = load_settings(RuntimeSettings)
    if settings.workers == 1:
        run("runtime", RuntimeSettings, RuntimeService)
        return
    raise SystemExit("multi-process mode is not implemented yet")
