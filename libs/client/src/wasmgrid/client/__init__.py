"""Typed asyncio client SDK for wasmgrid's HTTP API."""

from wasmgrid.client._client import CallResult, Client, RunResult, WasmgridError

__all__ = ["CallResult", "Client", "RunResult", "WasmgridError"]
