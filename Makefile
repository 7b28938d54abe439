# cmkit: two commands on a fresh machine -- `make lab` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DB     ?= data/cmkit.db
PORT   ?= 8888

.PHONY: lab test test-fast bench lint format demo clean hooks

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,postgres]'
	touch $(STAMP)

$(DB): | $(STAMP)
	$(BIN)/cmkit demo --url sqlite:///$(DB)

demo: $(STAMP)
	$(BIN)/cmkit demo --url sqlite:///$(DB) --replace

# JupyterLab's root is the project, so notebooks/ and the runbook records in runs/ are both at hand;
# it opens on notebooks/00-getting-started.ipynb.
START_NOTEBOOK := notebooks/00-getting-started.ipynb
lab: $(STAMP) $(DB)
	mkdir -p runs
	CMKIT_URL=sqlite:///$(abspath $(DB)) $(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) \
	  --LabApp.default_url=/lab/tree/$(START_NOTEBOOK) --ip=127.0.0.1 --port=$(PORT) \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

# Once per clone: git strips the notebooks' outputs (and execution counts) on every commit, so running a
# notebook never commits customer data; .gitattributes names the filter, this defines it for the clone.
hooks: $(STAMP)
	git config filter.nbstripout.clean '"$(abspath $(BIN))/python" -m nbstripout --keep-id'
	git config filter.nbstripout.smudge cat
	git config filter.nbstripout.required true
	git config diff.ipynb.textconv '"$(abspath $(BIN))/python" -m nbstripout --keep-id -t'

# Every test: the library on SQLite (and PostgreSQL when CMKIT_TEST_POSTGRES_URL is set), the widgets,
# the notebooks under nbval, and JupyterLab in headless Chromium (skipped with a reason when no Chromium).
# The tests without a browser run in $(JOBS) processes (each test makes its own databases); the browser
# tests after them, one at a time (each starts JupyterLab and Chromium).
JOBS ?= 2
test: lint
	$(BIN)/pytest tests -m "not browser" -n $(JOBS)
	$(BIN)/pytest tests -m browser
	rm -rf .nbtest && mkdir -p .nbtest
	$(BIN)/cmkit demo --quiet --url sqlite:///$(abspath .nbtest)/cmkit.db
	cd .nbtest && CMKIT_URL=sqlite:///$(abspath .nbtest)/cmkit.db ../$(BIN)/pytest --nbval-lax -q --rootdir=.. ../notebooks

test-fast: $(STAMP)
	$(BIN)/pytest -x -q tests -m "not browser and not heavy"

$(VENV)/.bench: $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,postgres,bench]'
	touch $@

# The benchmark (not part of `make test`): builds its 1M-customer SQLite database once (bench/data/);
# and, when PostgreSQL answers at $CMKIT_BENCH_POSTGRES_URL (default the local cmkit_bench), times it there too;
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--no-postgres" or BENCH_ARGS="--only autocomplete".
bench: $(VENV)/.bench
	$(BIN)/python -m bench $(BENCH_ARGS)

# The habits, checked: lint (ruff), format (ruff format), types (mypy --strict), notebooks committed without
# outputs (nbstripout), spelling (codespell). `make format` fixes what can be fixed by itself.
LINTED    := cmkit tests $(wildcard bench)
NOTEBOOKS := $(wildcard notebooks/*.ipynb notebooks/runbooks/*.ipynb)
lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(BIN)/nbstripout --keep-id --verify $(NOTEBOOKS)
	$(BIN)/codespell $(LINTED) notebooks $(wildcard docs) README.md $(wildcard CHANGELOG.md) Makefile

format: $(STAMP)
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)
	$(BIN)/nbstripout --keep-id $(NOTEBOOKS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
