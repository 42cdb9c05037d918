# Two front doors: `make demo` (install + run the whole pipeline on the sample archive) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,train]"  # train: torch (CPU wheel) for the loader and U-Net tests
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/ml4earth demo

lint: install
	$(BIN)/ruff check ml4earth_stac flows tests bench examples
	$(BIN)/lint-imports

test: install lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/loader.py
	$(BIN)/python bench/inference.py

clean:
	rm -rf outputs sample-archive .bench
