"""``python -m wasmgrid.cli``: the `wasmgrid` command."""

import sys

from wasmgrid.cli.main import main

sys.exit(main())
