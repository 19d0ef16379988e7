"""wasmgrid runtime service."""
