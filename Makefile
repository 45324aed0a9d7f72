# The two promises: `make run` serves the demo county; `make test` passes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint install clean-demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: export JIEFANG_DEPLOYMENT ?= yunjiang
run: $(STAMP)
	-scripts/system-packages run
	$(BIN)/jiefang keys check >/dev/null 2>&1 || $(BIN)/jiefang keys init
	$(BIN)/jiefang db upgrade
	$(BIN)/jiefang demo load --if-empty
	@echo "接访已启动：http://$(HOST):$(PORT) （Ctrl+C 停止）"
	$(BIN)/jiefang serve --host $(HOST) --port $(PORT) --workers 1 --with-worker

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check app fixtures tests bench
	$(BIN)/mypy

clean-demo:
	rm -f var/jiefang.db var/jiefang.db-wal var/jiefang.db-shm
