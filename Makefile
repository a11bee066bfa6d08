# calendrier: `make run` serves the demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# The suite runs twice: on SQLite, then on this PostgreSQL (each worker makes its own database).
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/calendrier_test
PYTEST_ARGS ?=
export FLASK_APP := wsgi

.PHONY: install run test test-sqlite test-postgres lint translations assets clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Front-end assets (fonts, CSS reset) and axe-core for the browser tests, from the npm registry;
# the app serves them itself (/vendor/...): no CDN, nothing fetched at run time.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

assets: node_modules/.package-lock.json

translations: install
	for d in $$(find calendrier -type d -name translations); do $(BIN)/pybabel -q compile -d $$d || exit 1; done

run: install translations assets
	FLASK_DEBUG=1 $(BIN)/flask db upgrade
	FLASK_DEBUG=1 $(BIN)/flask seed-demo
	FLASK_DEBUG=1 $(BIN)/flask run --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .

test-sqlite: install translations assets
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test-postgres: install translations assets
	CALENDRIER_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)
	# Restarts the PostgreSQL server under traffic: alone, after the rest of the suite.
	CALENDRIER_TEST_PG_RESTART=1 CALENDRIER_TEST_DATABASE_URL=$(PG_TEST_URL) \
		$(BIN)/python -m pytest -q -m pg_restart $(PYTEST_ARGS)

test: lint test-sqlite test-postgres

clean:
	rm -rf $(VENV) instance .pytest_cache node_modules
