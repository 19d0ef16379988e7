"""``python -m wasmgrid.runtime``: serve the runtime (one or several worker processes)."""

from wasmgrid.runtime.supervisor import main

main()
