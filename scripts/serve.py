"""Start the dashboard (``streamlit run app.py ARGS``) with the pages' libraries imported first.

``streamlit run`` imports a page's modules on the first visit, so the first visitor after
a start waited for Polars, DuckDB, Plotly and the analytics modules to load (about 0.5 s
of a cold page at 10 M records). Here they are imported before the server opens its port,
in the same process the server runs in. Only modules are loaded: no query runs and no
cache is filled, so a first visit still reads the warehouse.

    python scripts/serve.py --server.port 8501      # what scripts/start.sh runs
"""

from __future__ import annotations

import ast
import importlib
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("numpy", "polars", "duckdb", "plotly.graph_objects")

log = logging.getLogger("serve")


def page_modules(pages: Path = ROOT / "pages") -> list[str]:
    """The ``analytics`` modules the page scripts import at their top level, in order."""
    found: dict[str, None] = {}
    for path in sorted(pages.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                # `from analytics.forecast import views` imports the submodule views too
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names if _is_module(f"{node.module}.{a.name}"))]
            else:
                continue
            for name in names:
                if name == "analytics" or name.startswith("analytics."):
                    found[name] = None
    return list(found)


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def preload() -> list[str]:
    """Import the libraries and the pages' analytics modules; the names that failed."""
    failed = []
    for name in (*LIBRARIES, *page_modules()):
        try:
            importlib.import_module(name)
        except Exception:  # the page itself will report it on its visit
            failed.append(name)
    return failed


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    failed = preload()
    if failed:
        log.warning("could not preload %s", ", ".join(failed))
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *argv]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
