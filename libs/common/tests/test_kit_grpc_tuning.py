"""Every service entry point puts grpc's tuning in the environment before grpc loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from wasmgrid.common import grpc_tuning

pytestmark = pytest.mark.integration  # starts service processes

# Records GRPC_EXPERIMENTS at the moment `grpc` is first imported, then imports the
# entry point module named in argv (its `if __name__ == "__main__"` body does not run).
_SPY = """
import importlib, importlib.abc, os, sys
seen = []
class Spy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "grpc" and not seen:
            seen.append(os.environ.get("GRPC_EXPERIMENTS", "<unset>"))
sys.meta_path.insert(0, Spy())
importlib.import_module(sys.argv[1])
print("GRPC_EXPERIMENTS=" + (seen[0] if seen else "<grpc never imported>"))
"""


def _grpc_env_at_import(module: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
    done = subprocess.run(
        [sys.executable, "-c", _SPY, module],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1].removeprefix("GRPC_EXPERIMENTS=")


@pytest.mark.parametrize("service", ["gateway", "runtime", "marketplace", "cache", "monitor"])
def test_entry_points_tune_grpc_before_importing_it(service: str) -> None:
    module = f"wasmgrid.{service}.__main__"
    assert _grpc_env_at_import(module) == grpc_tuning.GRPC_EXPERIMENTS


def test_an_operators_own_setting_wins() -> None:
    assert _grpc_env_at_import("wasmgrid.cache.__main__", GRPC_EXPERIMENTS="") == ""
