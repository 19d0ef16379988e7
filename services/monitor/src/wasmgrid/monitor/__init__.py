"""wasmgrid monitor service."""
