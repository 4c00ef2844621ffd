#!/usr/bin/env bash
# Install everything the tests need (Debian chromium, a CJK font, poppler-utils for the PDF tests, PostgreSQL + PostGIS on a Unix
# socket, the [test] extras), then ruff and the whole pytest suite. Extra arguments go to pytest.
source "$(dirname "$0")/_env.sh"
if ! command -v chromium >/dev/null || ! command -v fc-list >/dev/null || ! fc-list | grep -qi 'wenquanyi\|wqy' \
   || ! command -v pdftotext >/dev/null; then
  apt_install chromium fonts-wqy-microhei fontconfig poppler-utils  # poppler: pdftotext/pdffonts/pdftoppm
fi
.venv/bin/pip install -q -e '.[test]'
.venv/bin/pip install -q --no-deps "$LEAFLET_DRAW"
.venv/bin/ruff check geo_app tests benchmarks scripts
GEO_APP_TEST_DATABASE_URL="$(scripts/pg_test_server.sh start)"
export GEO_APP_TEST_DATABASE_URL
exec .venv/bin/python -m pytest -q "$@"
