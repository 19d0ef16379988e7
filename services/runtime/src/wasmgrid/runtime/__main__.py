"""``python -m wasmgrid.runtime``: serve the runtime (one or several worker processes)."""

from wasmgrid.common import grpc_tuning, startup

startup.exit_on_sigterm()  # as PID 1, until the service's own handler is installed
grpc_tuning.apply()  # before anything imports grpc

from wasmgrid.runtime.workermetrics import use_cached_pid

use_cached_pid()  # before any metric exists

from wasmgrid.runtime.supervisor import main

if __name__ == "__main__":
    main()
