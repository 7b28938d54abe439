# cmkit: two commands on a fresh machine -- `make lab` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DB     ?= data/cmkit.db
PORT   ?= 8888

.PHONY: lab test test-fast bench lint demo clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,postgres]'
	touch $(STAMP)

$(DB): | $(STAMP)
	$(BIN)/cmkit demo --url sqlite:///$(DB)

demo: $(STAMP)
	$(BIN)/cmkit demo --url sqlite:///$(DB) --replace

lab: $(STAMP) $(DB)
	CMKIT_URL=sqlite:///$(abspath $(DB)) $(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --port=$(PORT) $(if $(filter 0,$(shell id -u)),--allow-root)

# Every test: the library on SQLite (and PostgreSQL when CMKIT_TEST_POSTGRES_URL is set), the widgets,
# the notebooks under nbval, and JupyterLab in headless Chromium (skipped with a reason when no Chromium).
test: $(STAMP)
	$(BIN)/ruff check cmkit tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/pytest tests
	rm -rf .nbtest && mkdir -p .nbtest
	$(BIN)/cmkit demo --quiet --url sqlite:///$(abspath .nbtest)/cmkit.db
	cd .nbtest && CMKIT_URL=sqlite:///$(abspath .nbtest)/cmkit.db ../$(BIN)/pytest --nbval-lax -q --rootdir=.. ../notebooks

test-fast: $(STAMP)
	$(BIN)/pytest -x -q tests -m "not browser and not heavy"

$(VENV)/.bench: $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,postgres,bench]'
	touch $@

# The benchmark (not part of `make test`): builds its 1M-customer SQLite database once (bench/data/);
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--url postgresql+psycopg://postgres@127.0.0.1/cmkit_bench".
bench: $(VENV)/.bench
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check cmkit tests $(wildcard bench)
	$(BIN)/ruff format --check cmkit tests $(wildcard bench) || true
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
