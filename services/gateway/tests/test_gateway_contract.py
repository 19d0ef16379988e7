"""The contract, from outside: schemathesis against a real gateway's ``/openapi.json``.

A fast slice of what ``make reliability`` runs in full (reliability/contract.py): every
check, the deterministic coverage phase (each constraint's edges, valid and not) and
the schema's examples, with few examples per operation. A failure names the operation,
the check and a curl line to replay it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from .conftest import Infra, StartGateway

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "reliability" / "contract.toml"
#: The slice: deterministic phases, a handful of generated cases per operation; the
#: monitor's operations are left to the full run (this gateway has no monitor: 503).
FAST = (
    "--phases",
    "examples,coverage",
    "--max-examples",
    "5",
    "--workers",
    "1",
    "--exclude-path-regex",
    "^/v1/(alerts|health|traces)",
)


@pytest.mark.integration
async def test_the_gateway_keeps_its_openapi_contract(
    start_gateway: StartGateway, infra: Infra
) -> None:
    # Every operation that needs a token is tried with bad ones: the failed-auth limit
    # (tested on its own) would answer the later ones 429 instead of 401.
    gw = await start_gateway(auth_failures_per_minute=0)
    schemathesis = Path(sys.executable).with_name("schemathesis")
    proc = await asyncio.create_subprocess_exec(
        str(schemathesis),
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        gw.url("/openapi.json"),
        "--checks",
        "all",
        *FAST,
        "--seed",
        "1",
        "-H",
        f"Authorization: Bearer {infra.admin}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-8000:]
