"""Start the dashboard (``streamlit run app.py ARGS``) with the pages' libraries imported first,
and the sign-in cookie's routes added to Streamlit's server.

``streamlit run`` imports a page's modules on the first visit, so the first visitor after
a start waited for Polars, DuckDB, Plotly and the analytics modules to load (about 0.5 s
of a cold page at 10 M records). Here they are imported before the server opens its port,
in the same process the server runs in. Only modules are loaded: no query runs and no
cache is filled, so a first visit still reads the warehouse.

    python scripts/serve.py --server.port 8501      # what scripts/start.sh runs

The sign-in cookie is HttpOnly, so page JavaScript can neither read nor set it: it must come
in an HTTP response. :func:`install_session_routes` adds two routes to the server app that
``streamlit run`` builds: ``POST /_auth/session`` exchanges the one-time ticket a sign-in
hands to the page for the signed session cookie, ``POST /_auth/sign_out`` clears it
(docs/security.md). Both refuse requests from another origin.
"""

from __future__ import annotations

import ast
import importlib
import logging
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
# pandas too: Plotly looks it up in sys.modules without importing it (``is_homogeneous_array``),
# so a figure built while another session's thread is still importing pandas (Streamlit's
# table serialisation) met a half-initialised module: "partially initialized module 'pandas'
# has no attribute 'Series'" on the Forecasts page's first view after a start.
LIBRARIES = ("numpy", "pandas", "polars", "duckdb", "plotly.graph_objects")

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
                names = [
                    node.module,
                    *(f"{node.module}.{a.name}" for a in node.names if _is_module(f"{node.module}.{a.name}")),
                ]
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


def warehouse_path() -> Path:
    """The app's warehouse, as pages._shared.warehouse_path() resolves it (that module
    imports streamlit page machinery, so it is not imported into the server here)."""
    from analytics.config import settings

    env = os.environ.get("ANALYTICS_WAREHOUSE")
    return Path(env) if env else settings().warehouse_path


def _same_origin(request) -> bool:
    origin = request.headers.get("origin")
    return bool(origin) and urlparse(origin).netloc == request.headers.get("host")


def session_routes(base: str = "") -> list:
    """The cookie routes (Starlette), under the server's base URL path."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response
    from starlette.routing import Route

    from analytics.security import sessions

    prefix = "/" + base.strip("/") if base.strip("/") else ""

    async def set_session(request):
        if not _same_origin(request):
            return Response("cross-origin request refused", status_code=403)
        ticket = (await request.body())[:4096].decode("ascii", errors="replace").strip()
        value = await run_in_threadpool(sessions.exchange_ticket, warehouse_path(), ticket)
        if value is None:
            return Response("ticket refused", status_code=403)
        response = Response(status_code=204, headers={"Cache-Control": "no-store"})
        response.set_cookie(
            sessions.COOKIE,
            value,
            max_age=sessions.max_age(),
            path=prefix or "/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def clear_session(request):
        if not _same_origin(request):
            return Response("cross-origin request refused", status_code=403)
        response = Response(status_code=204, headers={"Cache-Control": "no-store"})
        response.delete_cookie(
            sessions.COOKIE, path=prefix or "/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
        )
        return response

    return [
        Route(f"{prefix}/_auth/session", set_session, methods=["POST"]),
        Route(f"{prefix}/_auth/sign_out", clear_session, methods=["POST"]),
    ]


def install_session_routes() -> None:
    """Add :func:`session_routes` to the Starlette app ``streamlit run`` builds.

    Streamlit 1.67's public way to add routes is ``st.App(script, routes=[...])``, which
    moves the server to its ASGI launch mode (the main script becomes the App module); this
    keeps the ``streamlit run app.py`` launch and wraps the factory of Streamlit's routes
    instead (tests/test_browser_session.py fails if that factory goes away)."""
    from streamlit import config
    from streamlit.web.server.starlette import starlette_app

    original = starlette_app.create_streamlit_routes
    if getattr(original, "with_session_routes", False):
        return

    def routes(runtime):
        return [*session_routes(config.get_option("server.baseUrlPath") or ""), *original(runtime)]

    routes.with_session_routes = True
    starlette_app.create_streamlit_routes = routes


def main(argv: list[str]) -> int:
    os.umask(0o077)  # the app's warehouse, snapshots, lake files and uploads: 0600 files, 0700 folders
    sys.path.insert(0, str(ROOT))
    install_session_routes()
    failed = preload()
    if failed:
        log.warning("could not preload %s", ", ".join(failed))
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *argv]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
