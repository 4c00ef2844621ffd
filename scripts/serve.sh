#!/usr/bin/env bash
# Install into .venv and start the service on the shipped data: http://127.0.0.1:5000
# Usage: scripts/serve.sh [--host 127.0.0.1] [--port 5000]
source "$(dirname "$0")/_env.sh"
.venv/bin/pip install -q -e .
.venv/bin/pip install -q --no-deps "$LEAFLET_DRAW"
exec .venv/bin/geo-app serve "$@"
