"""The process libFuzzer runs in: ``python -m fuzz.entry TARGET [OPTIONS] -- ARGS``.

OPTIONS are ``--strict`` and ``--known-log FILE``.

ARGS go to libFuzzer (``-max_total_time=60 corpus_dir seed_dir`` …). The functions
of the target's parser modules are instrumented once imported, so that libFuzzer is
guided by the coverage of our Python code (and of aiohttp's multipart parser for that
target) and of nothing else: instrumenting every module on the way costs seconds of
start-up and dilutes the signal.
Known findings (:mod:`fuzz.known`) are counted into the ``--known-log`` JSON file and
fuzzing goes on; with ``--strict`` they stop the run like any other crash.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
import types
from collections import Counter
from pathlib import Path

import atheris

from fuzz import known, targets

#: How often the known-findings log is rewritten (libFuzzer exits without Python's
#: atexit handlers, so the counts are flushed as they change).
FLUSH_SECONDS = 1.0


def main(argv: list[str]) -> None:
    """Parse our arguments, instrument the target, hand the rest to libFuzzer."""
    cut = argv.index("--", 1) if "--" in argv[1:] else len(argv)
    ours, libfuzzer = argv[1:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(prog="python -m fuzz.entry")
    parser.add_argument("target", choices=[t.name for t in targets.runnable()])
    parser.add_argument("--strict", action="store_true", help="known findings stop the run")
    parser.add_argument("--known-log", type=Path, help="JSON file of known-finding counts")
    args = parser.parse_args(ours)
    target = targets.get(args.target)
    check = target.check()
    for name in target.instrument:
        # A package stands for its submodules too (the routes loader is a package).
        for loaded in [m for n, m in sys.modules.items() if n == name or n.startswith(name + ".")]:
            instrument_module(loaded)
    hits: Counter[str] = Counter()
    flushed = [0.0]

    def flush(force: bool) -> None:
        now = time.monotonic()
        if args.known_log is not None and (force or now - flushed[0] >= FLUSH_SECONDS):
            args.known_log.write_text(json.dumps(dict(hits), sort_keys=True) + "\n")
            flushed[0] = now

    def one_input(data: bytes) -> None:
        try:
            check(data)
        except Exception as exc:
            finding = None if args.strict else known.classify(target.name, exc)
            if finding is None:
                raise
            hits[finding.id] += 1
            flush(force=hits[finding.id] == 1)

    atheris.Setup([argv[0], *libfuzzer], one_input)
    atheris.Fuzz()


def instrument_module(module: types.ModuleType) -> int:
    """Instrument, in place, every function and method defined in `module`; how many."""
    count = 0

    def patch(obj: object) -> None:
        nonlocal count
        if inspect.isfunction(obj) and obj.__module__ == module.__name__:
            atheris.instrument_func(obj)
            count += 1

    for value in list(vars(module).values()):
        patch(value)
        if inspect.isclass(value) and value.__module__ == module.__name__:
            for attr in vars(value).values():
                if isinstance(attr, staticmethod | classmethod):
                    patch(attr.__func__)
                elif isinstance(attr, property):
                    for accessor in (attr.fget, attr.fset, attr.fdel):
                        patch(accessor)
                else:
                    patch(attr)
    return count


if __name__ == "__main__":
    main(sys.argv)
