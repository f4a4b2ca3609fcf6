# Quick start: `make run` (portal + runner + M365 emulator, demo data) and `make test`.
#
#   make run            install, migrate, seed the demo, start portal (:5000), runner and emulator (:5001)
#   make test           install, lint (ruff), then the whole test suite on SQLite
#   make test-postgres  the suite on PostgreSQL (TEST_DATABASE_URL, default: local server, database test)
#   make lint           ruff lint and format check only
#   make bench          benchmarks: one table of figures vs targets, written to bench/results.md
#   make lock           re-pin requirements*.txt (with hashes) from requirements*.in
#   make dist           the release: dist/ gets the wheel, the sdist and the pinned requirements.txt
#   make install-check  build, install and start the wheel as README "Install on a server" says
#   make messages       extract translatable strings (LANG_CODE=de also updates that catalogue)
#   make clean          remove the virtual environment and the development database
#   make help           this list
# Variables: PYTHON (interpreter for the venv), PYTEST_ARGS (extra pytest arguments),
# TEST_DATABASE_URL (test-postgres), LANG_CODE (messages), BENCH_ARGS (bench, e.g. --large).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: help run test install migrate seed clean test-postgres messages translations lint lock dist install-check bench

help:  ## the targets and variables (this file's header)
	@sed -n '3,15s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed translations

# Compiled catalogues (.mo) are build products: made from the .po files at install time, by the
# same step as the wheel build and the tests (setup.py's compile_catalogues).
translations: $(VENV)/.installed
	$(BIN)/python -c "import runpy; runpy.run_path('setup.py')['compile_catalogues']()"

migrate: install
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask seed-demo

run: seed
	@bash deploy/dev-run.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: install
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

# Under 10 minutes; BENCH_ARGS=--large adds 100,000 users. PostgreSQL figures: BENCH_DATABASE_URL
# (default: the local server's database test, when it answers).
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lock: $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links -o requirements.txt requirements.in
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links -o requirements-dev.txt requirements-dev.in

# The release: building the wheel compiles the translations into it (setup.py). The install guide
# installs the pinned requirements.txt first, then the wheel without resolving anything else.
dist: $(VENV)/.installed
	rm -rf dist build
	$(BIN)/python -m build --outdir dist .
	cp requirements.txt dist/requirements.txt

install-check: $(VENV)/.installed
	.ci/install-check

clean:
	rm -rf $(VENV) instance/portal.db .pytest_cache dist build

# Translations: extract English source strings; `make messages LANG_CODE=de` starts or updates a catalogue.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_ngettext:1,2 -o portal/translations/messages.pot .
	@if [ -n "$(LANG_CODE)" ]; then \
		if [ -f portal/translations/$(LANG_CODE)/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations -l $(LANG_CODE); \
		else $(BIN)/pybabel init -i portal/translations/messages.pot -d portal/translations -l $(LANG_CODE); fi; fi
