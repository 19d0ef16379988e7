# The proof that wasmgrid keeps working and loses nothing (reliability/README.md). Not in CI:
# `make test` runs the fuzz smoke and the Redis-down scenario; these run the whole set.
.PHONY: reliability soak fuzz

#: Seconds per fuzz target, per overload step, and of the soak.
FUZZ_SECONDS ?= 60
OVERLOAD_SECONDS ?= 60
SOAK_SECONDS ?= 1800

reliability: install ## fuzz budgets, fault and overload scenarios on real processes: one table, JSON, README (~20 min)
	FUZZ_SECONDS=$(FUZZ_SECONDS) OVERLOAD_SECONDS=$(OVERLOAD_SECONDS) \
		$(PY) -m reliability run $(RELIABILITY_ARGS)

soak: install ## mixed traffic for SOAK_SECONDS (30 min): RSS slope, open files, asyncio tasks per service
	$(PY) -m reliability soak --seconds $(SOAK_SECONDS)

fuzz: install ## every fuzz target for FUZZ_SECONDS each (python -m fuzz)
	$(PY) -m fuzz run --seconds $(FUZZ_SECONDS)
