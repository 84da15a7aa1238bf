# Every target creates the virtual environment on first use, so on a fresh
# machine `make run` or `make test` is the only command needed.
VENV    := .venv
PYTHON  := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
DATA    ?= devnet-data

.PHONY: run test test-all check bench soak clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/gongfen devnet up --data $(DATA)

JS_CHECK := tests/node/js/node_modules/.installed

# ethers.js for the client-compatibility test; skipped (the test says so) when
# this machine has no npm.
$(JS_CHECK): tests/node/js/package-lock.json
	@if command -v npm >/dev/null; then \
		cd tests/node/js && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the ethers.js test will be skipped"; fi

test: $(STAMP) $(JS_CHECK)
	$(PYTHON) -m pytest -q

test-all: $(STAMP) $(JS_CHECK)
	$(PYTHON) -m pytest -q -m ''

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The long fault and soak runs (tests marked slow): several minutes.
soak: $(STAMP) $(JS_CHECK)
	$(PYTHON) -m pytest -q -m slow

bench: $(STAMP)
	$(PYTHON) bench/throughput.py
	$(PYTHON) bench/contracts_throughput.py
	$(PYTHON) bench/consortium_throughput.py

clean:
	rm -rf $(VENV) $(DATA)
