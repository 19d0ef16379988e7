"""Coverage-guided fuzzing of wasmgrid's parsers of untrusted input (atheris/libFuzzer).

`python -m fuzz list|run|replay|minimize|seeds`; `make reliability` runs every target
for a time budget. The targets and their oracles are in :mod:`fuzz.targets`, findings
already scheduled for a fix in :mod:`fuzz.known`.
"""
