#!/usr/bin/env bash
# Sets up .venv and starts the dashboard on the embedded warehouse (data/warehouse.duckdb).
# On first start the app generates and loads the seeded demo world, showing progress.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# scripts/serve.py = `streamlit run app.py` with the pages' libraries imported before the port opens
exec .venv/bin/python scripts/serve.py --server.headless true --server.port "${PORT:-8501}" "$@"
