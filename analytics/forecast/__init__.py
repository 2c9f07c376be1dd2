"""Per-region traffic forecasts with backtests, prediction intervals and the capacity outlook.

Modules: ``series`` (long-format y from the cubes), ``prepare`` (checks, gaps, spike
clipping), ``models`` (the named model registry), ``backtest`` (rolling origin, MASE,
sMAPE, coverage), ``engine`` (one series end to end), ``capacity`` (Erlang B, busy hour,
exhaustion dates), ``persist`` (DuckDB tables, incremental recompute), ``pipeline``
(the run) and ``command`` (``python -m analytics forecast``).
"""
