VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
AIDFLOW_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/

.PHONY: install test test-sqlite test-postgres soak check lint fmt demo run migrate bench bench-quick worker screenshots messages

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test,dev]'
	$(PY) -m api.web.catalog compile
	touch $(STAMP)

install: $(STAMP)

test: test-sqlite test-postgres

test-sqlite: $(STAMP)
	@echo "=== test suite against SQLite (embedded, a fresh file per test) ==="
	AIDFLOW_TEST_DB=sqlite $(PY) -m pytest -q -p no:cacheprovider

test-postgres: $(STAMP)
	@echo "=== test suite against PostgreSQL ($(AIDFLOW_TEST_DATABASE_URL), a database created and dropped by the run) ==="
	AIDFLOW_TEST_DB=postgres AIDFLOW_TEST_DATABASE_URL=$(AIDFLOW_TEST_DATABASE_URL) $(PY) -m pytest -q -p no:cacheprovider

# The reliability suites at length, on both databases: schemathesis with 200 examples an operation; the
# workflows' state machines 2,000 examples of up to 50 steps in all (250 per workflow and database); the
# parallel processes racing on 200 cases.
soak: $(STAMP)
	AIDFLOW_TEST_DB=sqlite AIDFLOW_FUZZ_EXAMPLES=200 $(PY) -m pytest -q -p no:cacheprovider tests/api/test_fuzz_api.py
	AIDFLOW_TEST_DB=postgres AIDFLOW_TEST_DATABASE_URL=$(AIDFLOW_TEST_DATABASE_URL) AIDFLOW_FUZZ_EXAMPLES=200 $(PY) -m pytest -q -p no:cacheprovider tests/api/test_fuzz_api.py
	AIDFLOW_TEST_DB=sqlite AIDFLOW_PROPERTY_EXAMPLES=250 AIDFLOW_PROPERTY_STEPS=50 $(PY) -m pytest -q -p no:cacheprovider tests/reliability/test_state_machine.py
	AIDFLOW_TEST_DB=postgres AIDFLOW_TEST_DATABASE_URL=$(AIDFLOW_TEST_DATABASE_URL) AIDFLOW_PROPERTY_EXAMPLES=250 AIDFLOW_PROPERTY_STEPS=50 $(PY) -m pytest -q -p no:cacheprovider tests/reliability/test_state_machine.py
	AIDFLOW_TEST_DB=postgres AIDFLOW_TEST_DATABASE_URL=$(AIDFLOW_TEST_DATABASE_URL) AIDFLOW_PARALLEL_CASES=200 $(PY) -m pytest -q -p no:cacheprovider tests/reliability/test_parallel_processes.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: lint $(STAMP)
	$(VENV)/bin/mypy engine workflows api notifications
	$(VENV)/bin/lint-imports --no-cache

migrate: $(STAMP)
	$(VENV)/bin/aidflow db upgrade

demo: $(STAMP)
	$(VENV)/bin/aidflow demo

run: $(STAMP)
	$(VENV)/bin/aidflow serve

worker: $(STAMP)
	$(VENV)/bin/aidflow worker

# Interleaved rounds on SQLite and PostgreSQL (see bench/README.md), then the figures at scale (audit
# verify and one township's queue at 1 M, the payment run at 100k households, HTTP at 1, 8 and 50
# clients); rewrites BENCHMARKS.md.
bench: $(STAMP)
	$(PY) -m bench.ratio --db both --rounds 7 --n 400 --pg-url $(AIDFLOW_TEST_DATABASE_URL) --verify-n 1000000 --queue-n 1000000 --queue-samples 200 --payment-n 100000 --http-seconds 1 --http-rounds 3 --http-cases 1000 --profile --markdown BENCHMARKS.md

# The same table at small sizes, printed only (BENCHMARKS.md is left as it is).
bench-quick: $(STAMP)
	$(PY) -m bench.ratio --db both --rounds 3 --n 60 --warmup 10 --many 20 --pg-url $(AIDFLOW_TEST_DATABASE_URL) --verify-n 5000 --queue-n 5000 --queue-samples 20 --payment-n 2000 --http-seconds 0.2 --http-rounds 1 --http-cases 250 --small

# The pages' browser tests, leaving a screenshot of every page they visit in screenshots/.
screenshots: $(STAMP)
	AIDFLOW_TEST_DB=sqlite $(PY) -m pytest -q -p no:cacheprovider tests/browser
	@echo "screenshots in $(CURDIR)/screenshots/"

# After changing the words of a page: new messages appear in the .po with an empty English.
messages: $(STAMP)
	$(PY) -m api.web.catalog update
	$(PY) -m api.web.catalog compile
