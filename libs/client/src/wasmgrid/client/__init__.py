"""Typed asyncio client SDK for wasmgrid."""
