"""Generate the committed Python code for every contract under protos/.

`--check` regenerates into a temporary tree and fails on any difference, so a
contract edited without `make protos` is caught in CI.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "libs" / "common" / "src"
API = Path("wasmgrid") / "api"
GENERATED = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def generate(out: Path) -> None:
    """Run protoc (from the pinned grpcio-tools) over every .proto file into `out`."""
    files = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    if not files:
        sys.exit("no .proto files under protos/")
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        f"--plugin=protoc-gen-mypy_grpc={Path(sys.executable).parent / 'protoc-gen-mypy_grpc'}",
        f"--mypy_grpc_out={out}",
        *files,
    ]
    subprocess.run(cmd, check=True, cwd=PROTOS)
    # PEP 420 namespace packages: generated dirs are plain packages below wasmgrid.api.
    for d in (out / API).rglob("*"):
        if d.is_dir() and not (d / "__init__.py").exists():
            (d / "__init__.py").write_text("")
    if not (out / API / "__init__.py").exists():
        (out / API / "__init__.py").write_text("")


def generated_files(root: Path) -> set[Path]:
    base = root / API
    if not base.exists():
        return set()
    return {
        p.relative_to(root)
        for p in base.rglob("*")
        if p.is_file() and (p.name.endswith(GENERATED) or p.name == "__init__.py")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed code is stale")
    args = parser.parse_args()
    if not args.check:
        shutil.rmtree(OUT / API, ignore_errors=True)
        generate(OUT)
        print(f"generated {len(generated_files(OUT))} files under {OUT / API}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        want, have = generated_files(fresh), generated_files(OUT)
        stale = sorted(str(p) for p in want ^ have)
        stale += sorted(
            str(p) for p in want & have if not filecmp.cmp(fresh / p, OUT / p, shallow=False)
        )
        if stale:
            print("generated code is stale; run `make protos`:", *stale, sep="\n  ")
            sys.exit(1)
        print(f"protos up to date ({len(want)} files)")


if __name__ == "__main__":
    main()
