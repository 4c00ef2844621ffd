# Conveniences; the README's two commands are scripts/serve.sh and scripts/test.sh (they need only
# bash and python3, so they also work where make is not installed).
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: serve test pg-stop bench bench-batch

serve:
	scripts/serve.sh --host $(HOST) --port $(PORT)

test:
	scripts/test.sh

pg-stop:
	scripts/pg_test_server.sh stop

bench:
	.venv/bin/python benchmarks/engine.py

bench-batch:
	.venv/bin/python benchmarks/batch.py --repeat 2
