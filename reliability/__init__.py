"""Fault, overload and soak scenarios against the suite as real processes (`make reliability`).

See ``reliability/README.md``; `python -m reliability run|soak|list`.
"""
