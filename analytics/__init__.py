"""Telecom call-usage analytics: CDR extracts -> DuckDB usage cubes -> forecasts and marts.

This package is the product; it never imports streamlit. Pages in ``pages/`` are thin
views over the functions here.
"""

from __future__ import annotations

__version__ = "0.1.0"
