"""How a module's outcome becomes the exit code of ``wasmgrid run`` and ``wasmgrid call``.

A guest that exits with a code passes it through (1..255; a code outside that range
is 1, so a failure never reads as success). The limits and traps have codes of
their own, chosen apart from the CLI's 1-3 and from common shell meanings:

=================  ====  ==========================================
outcome            exit  why this number
=================  ====  ==========================================
ok                 0
exit (code N)      N     the guest's own exit code
output_truncated   120   stdout or stderr passed its cap
stack_overflow     121   the wasm stack limit
memory_limit       122   the linear-memory limit
fuel_exhausted     123   the fuel (instruction) budget
timeout            124   the wall-clock limit, as `timeout(1)` uses
scratch_limit      125   the scratch directory's byte or file cap
trap               134   any other trap, as `wasmtime run` exits
=================  ====  ==========================================
"""

from __future__ import annotations

OUTCOME_EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "output_truncated": 120,
    "stack_overflow": 121,
    "memory_limit": 122,
    "fuel_exhausted": 123,
    "timeout": 124,
    "scratch_limit": 125,
    "trap": 134,
}
#: An outcome this CLI does not know yet (a newer server): a generic failure.
UNKNOWN_OUTCOME = 1


def exit_code(outcome: str, guest_exit_code: int = 0) -> int:
    """The process exit code for a module that ended with `outcome`."""
    if outcome == "exit":
        return guest_exit_code if 0 < guest_exit_code < 256 else 1
    return OUTCOME_EXIT_CODES.get(outcome, UNKNOWN_OUTCOME)
