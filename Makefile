# fengqiao: `make run` starts everything on this machine; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# System packages the project needs (Debian names).
SYSTEM_PACKAGES := libgdal32 chromium fonts-noto-cjk fonts-wqy-zenhei gettext poppler-utils
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install system-packages messages run test test-fast screenshots lint format demo clean

install: system-packages $(STAMP) messages

system-packages:
	@bin/system-packages $(SYSTEM_PACKAGES)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

messages: $(STAMP)
	@if ls locale/*/LC_MESSAGES/django.po >/dev/null 2>&1; then \
		$(BIN)/python manage.py compilemessages --ignore='.venv' --ignore='var' >/dev/null; fi

demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo

run: demo
	@bin/run-all

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The fast part alone: no real browser, no real worker, no fuzzing of the API.
test-fast: install
	$(BIN)/python -m pytest -m "not browser and not integration and not fuzz" $(PYTEST_ARGS)

# The README's pictures: the browser tests take them, this copies them to docs/screenshots.
screenshots: install
	$(BIN)/python -m pytest -m browser $(PYTEST_ARGS)
	@bin/collect-screenshots

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var/broker var/cache var/test_fengqiao.sqlite3*
