"""Network quality per cell and hour, the worst cells of a period, and stored incidents.

* :mod:`analytics.network.kpis`: the KPIs (the live monitor's definitions plus the short-call
  ratio) over the mart ``quality_hourly_cell``, the worst-cells ranking with each cell's trend;
* :mod:`analytics.network.incidents`: hours outside their band grouped into incidents, the
  ``incidents`` table, the subscriber lookup's marks;
* :mod:`analytics.network.mart`: the refresh after a load (stale UTC months, then incidents).

See docs/network.md.
"""
