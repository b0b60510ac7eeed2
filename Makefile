# The two commands of the README:
#   make demo   set up and run the demo
#   make test   set up and run the checks and the test suite (what CI runs)
.PHONY: demo test setup setup-test lint bench

demo: setup
	.venv/bin/groundswell demo

test: setup-test lint
	.venv/bin/python -m pytest

setup:
	scripts/setup.sh

setup-test:
	scripts/setup.sh --test

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: setup
	.venv/bin/python benchmarks/bench_ingest.py
