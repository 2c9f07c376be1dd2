"""Fraud and anomaly detection over the loaded records, and the analyst's alert queue.

* Detectors (one module each): :mod:`simbox`, :mod:`irsf`, :mod:`wangiri`, :mod:`clone`,
  :mod:`spike`; their SQL is ``analytics/sql/fraud_<name>.sql`` and their thresholds are
  in ``analytics.toml`` under ``[fraud.<type>]`` (each module's typed section, e.g.
  ``simbox.SimBoxSettings``).
* :mod:`engine` runs them (``detect``) and stores the result (``run_detection``).
* :mod:`alerts` owns the common alert shape, the alert key and persistence.
* :mod:`cases` owns the case workflow and the read side used by the Fraud page.
"""

from __future__ import annotations

from analytics.fraud.engine import DETECTORS, detect, run_detection

__all__ = ["DETECTORS", "detect", "run_detection"]
