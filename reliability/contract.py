"""The contract: schemathesis against the stack's ``/openapi.json``, every check and
every phase (examples, coverage, fuzzing, stateful), as a row of the table.

Offered is the number of test cases schemathesis generated; the errors are its
failures by check code (``ST202 Schema-valid request rejected``, …) and its own errors
(a phase that could not run). ``reliability/contract.toml`` names the exceptions (rules
no JSON schema can state); the fast slice of the same run is in ``make test``.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections import Counter
from pathlib import Path

from reliability.faults import Timing
from reliability.report import Row
from reliability.stack import Stack

CONFIG = Path(__file__).with_name("contract.toml")
#: Generated cases per operation and phase.
MAX_EXAMPLES = 50
_SUMMARY = re.compile(r"(\d+) generated, (?:(\d+) found )?")
_CHECK = re.compile(r"^- (ST\d+ [^\n]+)$", re.MULTILINE)
_PHASE = re.compile(r"^\s*❌\s+(Examples|Coverage|Fuzzing|Stateful)\b", re.MULTILINE)


async def contract(stack: Stack, timing: Timing) -> Row:
    """schemathesis, every check and phase (the stateful one too), 0 failures."""
    schemathesis = Path(sys.executable).with_name("schemathesis")
    proc = await asyncio.create_subprocess_exec(
        str(schemathesis),
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{stack.base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "2",
        "-H",
        f"Authorization: Bearer {stack.admin_token}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    row = Row(
        "contract (schemathesis, every check and phase)",
        target="0 failures; every phase runs",
    )
    summary = _SUMMARY.search(text)
    row.offered = int(summary.group(1)) if summary else 0
    failures = Counter(_CHECK.findall(text))
    phase_errors = _PHASE.findall(text)
    row.errors = dict(failures)
    for phase in phase_errors:
        row.errors[f"schemathesis: {phase} phase failed"] = 1
    row.admitted = row.offered
    row.met = proc.returncode == 0 and not failures and not phase_errors
    if not row.met:
        row.notes.append(text[-1500:].strip().splitlines()[-1] if text.strip() else "no output")
    row.facts["schemathesis exit code"] = proc.returncode
    return row
