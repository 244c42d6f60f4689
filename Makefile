# Two commands matter: `make run` (the whole stack) and `make test`. Both build the virtualenv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint fuzz bench histories clean

$(STAMP): pyproject.toml examples/locker_process/pyproject.toml examples/acme_oms/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e examples/locker_process -e examples/acme_oms
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/fulfillment dev

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

# A larger, randomly seeded schemathesis round than the one `make test` runs (FUZZ_EXAMPLES per operation).
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	FULFILLMENT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FULFILLMENT_FUZZ_SEED=random $(BIN)/pytest -q -s tests/api/test_fuzz.py

# Record the workflow histories the replay test replays (after a deliberate, versioned workflow change).
histories: $(STAMP)
	rm -f tests/histories/current/*.json
	FULFILLMENT_RECORD_HISTORIES=1 $(BIN)/pytest -q tests/workflows --deselect tests/workflows/test_replay.py

# Each benchmark prints its figures, its baseline's from the same run, and a last line of JSON.
# (bench/stack.py is the stack they share, not a benchmark.)
BENCHES := sessions floor events options_api sourcing scale call_step logistics reservations
bench: $(STAMP)
	@for b in $(BENCHES); do echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
