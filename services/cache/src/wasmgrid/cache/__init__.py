"""wasmgrid cache service."""
