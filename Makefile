# Quick start: `make run` (portal + runner + M365 emulator, demo data) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: run test install migrate seed clean test-postgres messages translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed translations

# Compiled catalogues (.mo) are build products: made from the .po files at install time.
translations: $(VENV)/.installed
	$(BIN)/pybabel compile -d portal/translations

migrate: install
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask seed-demo

run: seed
	@bash deploy/dev-run.sh

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: install
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance/portal.db .pytest_cache

# Translations: extract English source strings; `make messages LANG=de` starts or updates a catalogue.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -o portal/translations/messages.pot .
	@if [ -n "$(LANG_CODE)" ]; then \
		if [ -f portal/translations/$(LANG_CODE)/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations -l $(LANG_CODE); \
		else $(BIN)/pybabel init -i portal/translations/messages.pot -d portal/translations -l $(LANG_CODE); fi; fi
