# Every user-facing target depends on `install`, which sets everything up on first use and is
# a no-op afterwards (it reruns when pyproject.toml or the install script change).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APP := $(VENV)/bin/appliance
STAMP := $(VENV)/.installed
DOCS ?= samples
Q ?= What is the notice period in the lease?
# Optional extras installed beside the dev tools, e.g. `make install EXTRAS=ray` (ingest on a
# Ray cluster); comma-separated.
EXTRAS ?=
export APPLIANCE_INDEX_DIR ?= index
export APPLIANCE_MODELS_DIR ?= models

.PHONY: install ingest ask chat test bench eval eval-dev lint typecheck format test-snapshot-update clean

install: $(STAMP)
	@if [ -n "$(EXTRAS)" ]; then $(PY) -m pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"; fi

$(STAMP): pyproject.toml scripts/install.sh
	@VENV=$(VENV) EXTRAS=$(EXTRAS) bash scripts/install.sh
	@touch $(STAMP)

ingest: install
	$(APP) ingest $(DOCS)

ask: install
	$(APP) ask "$(Q)"

chat: install
	$(APP) chat

# The Ray ingest tests need Ray (an optional extra): installed here so CI runs them too.
test: install
	@$(PY) -c "import ray" 2>/dev/null || $(MAKE) --no-print-directory install EXTRAS=ray
	$(PY) -m pytest -q

bench: install
	$(PY) -m bench

eval: install
	$(APP) eval samples/eval.jsonl

# Page hit@1/@5/MRR per method on ../shared/devset (annual reports) and samples/eval.jsonl;
# skipped with a note when the dev set is not there. Indexes are cached under $TMPDIR.
eval-dev: install
	$(PY) -m bench devset

lint: install
	$(VENV)/bin/ruff check appliance bench tests scripts
	$(VENV)/bin/ruff format --check appliance bench tests scripts

typecheck: install
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format appliance bench tests scripts
	$(VENV)/bin/ruff check --fix appliance bench tests scripts

test-snapshot-update: install
	$(PY) -m pytest -q tests/test_tui_snapshots.py --snapshot-update

clean:
	rm -rf $(VENV) .cache
