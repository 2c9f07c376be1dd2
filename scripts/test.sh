#!/usr/bin/env bash
# Sets up .venv (and chromium for the browser tests), lints, then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser
.venv/bin/ruff check analytics pages tests benchmarks app.py
.venv/bin/ruff format --check analytics pages tests benchmarks app.py scripts
.venv/bin/python -m pytest "$@"
