# The two commands the README opens with. Both work from a fresh clone on Debian 12 + Python 3.11.
#   make serve   install into .venv and start the service on http://127.0.0.1:5000
#   make test    install test extras, Debian chromium + a CJK font, start a throwaway PostGIS on a Unix
#                socket, then lint and run the whole suite
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: serve test install install-test system-deps lint bench pg-stop bench-batch

$(BIN)/python:
	$(PY) -m venv $(VENV) || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q python3-venv && $(PY) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip

# Leaflet.draw 1.0.4 (MIT) is served from django-leaflet's static folder; Django itself is not needed,
# so that one package is installed without its dependencies (pyproject cannot say --no-deps).
LEAFLET_DRAW := django-leaflet==0.34.0

install: $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps $(LEAFLET_DRAW)

install-test: $(BIN)/python system-deps
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps $(LEAFLET_DRAW)

system-deps:
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi 'wenquanyi\|wqy'; then \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends chromium fonts-wqy-microhei fontconfig; \
	fi

serve: install
	$(BIN)/geo-app serve --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check geo_app tests benchmarks scripts

test: install-test
	$(BIN)/ruff check geo_app tests benchmarks scripts
	export GEO_APP_TEST_DATABASE_URL="$$(scripts/pg_test_server.sh start)" && $(BIN)/python -m pytest -q

pg-stop:
	scripts/pg_test_server.sh stop

bench-batch: install-test
	$(BIN)/python benchmarks/batch.py --repeat 2

bench: install-test
	$(BIN)/python benchmarks/engine.py
