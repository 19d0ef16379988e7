"""wasmgrid marketplace service."""
