"""The wasmgrid service kit shared by all five services."""
