"""The `wasmgrid` command line."""
