"""wasmgrid benchmarks: `make bench` (or `python -m bench [name …]`)."""

from wasmgrid.common import grpc_tuning

# Floors and clients use the services' grpc settings (set before grpc is imported), so
# every gRPC number in a bench run compares like with like.
grpc_tuning.apply()
