"""scripts/serve.py: the modules it imports before the server opens are the pages' own."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from tests.conftest import REPO


def _serve():
    spec = importlib.util.spec_from_file_location("serve", REPO / "scripts" / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_preload_lists_the_analytics_modules_pages_import(tmp_path):
    serve = _serve()
    names = serve.page_modules()
    assert "analytics.billing.reconcile" in names and "analytics.forecast.views" in names
    assert all(n == "analytics" or n.startswith("analytics.") for n in names)
    (tmp_path / "p.py").write_text("import os\nfrom analytics.summary import x\nfrom pages import _shared\n")
    assert serve.page_modules(tmp_path) == ["analytics.summary"]


def test_preload_imports_every_module_without_streamlit():
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); import importlib.util as u; "
        f"s = u.spec_from_file_location('serve', {str(REPO / 'scripts' / 'serve.py')!r}); m = u.module_from_spec(s); "
        "s.loader.exec_module(m); print(m.preload(), 'streamlit' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    # pandas whole before any session thread: Plotly reads it from sys.modules half-imported otherwise
    assert out.split() == ["[]", "False", "True"]
