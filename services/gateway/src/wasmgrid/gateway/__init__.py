"""wasmgrid gateway service."""
