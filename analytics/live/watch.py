"""The landing-folder watcher: load each new extract once, then file it away.

A file is *ready* when it is complete:

* clients that write ``name.tmp`` and rename it: any file not ending in ``.tmp``;
* clients that drop a ``<name>.done`` marker after the file: only files whose marker
  exists. ``markers="always"`` requires markers; ``"never"`` ignores them; ``"auto"``
  (default) requires them once any marker has been seen in the folder or in
  ``processed/`` (so the very first file of a marker-writing client should be written
  with ``--markers always`` to be safe).

Hidden files, ``*.tmp``, ``*.part``, ``*.done`` and ``*.reason.txt`` are never loaded.

Each ready file goes through :func:`analytics.pipeline.load_and_refresh` (validation,
quarantine, dedupe by record_id, one transaction per file, a manifest keyed by the
content hash), then moves to ``processed/`` (loaded, or already loaded) or
``rejected/`` (refused whole) with ``<name>.reason.txt``. Restart safety comes from the
order of those steps: a file leaves the landing folder only after its load committed;
a watcher killed between the commit and the move finds the file again, and the
manifest makes the second load a no-op (``already_loaded``).

The marts (stored reconciliation, segment months, fraud alerts: :func:`analytics.marts.
refresh_marts`, as ``ingest`` runs them) are refreshed once the folder has been quiet for
``marts_idle_s`` seconds after a load (default 60), so a burst of files costs one refresh and
a live feed that lands a file every few seconds is not slowed by them; ``--once`` refreshes
them before it exits. A failed refresh is logged and retried after the next load: it never
stops the loading.

SIGTERM/SIGINT: the current file is finished (its load is one transaction) and the
loop exits; a second signal abandons the file (the transaction rolls back, the file
stays for the next run).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

log = logging.getLogger(__name__)

IGNORED_SUFFIXES = (".tmp", ".part", ".done", ".reason.txt")
MARKER = ".done"
MAX_ATTEMPTS = 3  # unexpected (non-refusal) errors on one file before it is rejected


def recent_files(landing_dir: str | Path, *, limit: int = 20) -> pl.DataFrame:
    """The newest files filed by the watcher: one row per file in processed/ or rejected/
    (``file, outcome, size_kb, filed_at`` (UTC), ``reason`` for rejected ones); plus the
    files still waiting in the landing folder (outcome ``waiting``)."""
    root = Path(landing_dir)
    rows = []
    for outcome, folder in (("waiting", root), ("processed", root / "processed"), ("rejected", root / "rejected")):
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if not entry.is_file() or entry.name.startswith(".") or entry.name.endswith(IGNORED_SUFFIXES):
                continue
            st = entry.stat()
            reason_file = folder / f"{entry.name}.reason.txt"
            rows.append(
                {
                    "file": entry.name,
                    "outcome": outcome,
                    "size_kb": round(st.st_size / 1024, 1),
                    "filed_at": dt.datetime.fromtimestamp(st.st_ctime, dt.UTC).replace(tzinfo=None),
                    "reason": reason_file.read_text(encoding="utf-8").strip() if reason_file.exists() else None,
                }
            )
    schema = {
        "file": pl.String,
        "outcome": pl.String,
        "size_kb": pl.Float64,
        "filed_at": pl.Datetime("us"),
        "reason": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).sort("filed_at", descending=True).head(limit)


class Watcher:
    """Polls ``landing_dir``; :meth:`run_once` processes what is ready now."""

    def __init__(
        self,
        landing_dir: str | Path,
        *,
        warehouse: str | Path | None = None,
        markers: str = "auto",
        alerts: bool = True,
        marts_idle_s: float | None = 60.0,
    ) -> None:
        if markers not in ("auto", "always", "never"):
            raise ValueError(f"markers must be auto, always or never, not {markers!r}")
        self.landing_dir = Path(landing_dir)
        self.processed_dir = self.landing_dir / "processed"
        self.rejected_dir = self.landing_dir / "rejected"
        self.warehouse = Path(warehouse) if warehouse else None
        self.markers = markers
        self.alerts = alerts
        self.stop_event = threading.Event()
        self._markers_seen = False
        self.marts_idle_s = marts_idle_s  # None: never refresh the marts
        self._unrefreshed: list[dict[str, Any]] = []  # results of the loads since the last marts refresh
        self._last_load = 0.0  # time.monotonic() of the last load that added records
        self._attempts: Counter[str] = Counter()
        for d in (self.landing_dir, self.processed_dir, self.rejected_dir):
            d.mkdir(parents=True, exist_ok=True)
        from analytics.pipeline import load_and_refresh  # imported now, not on the first file's clock

        self._load = load_and_refresh

    # -- discovery -------------------------------------------------------------
    def markers_in_use(self) -> bool:
        if self.markers != "auto":
            return self.markers == "always"
        if not self._markers_seen:
            self._markers_seen = any(self.landing_dir.glob(f"*{MARKER}")) or any(self.processed_dir.glob(f"*{MARKER}"))
        return self._markers_seen

    def pending(self) -> list[Path]:
        """Ready files, oldest first (mtime, then name)."""
        need_marker = self.markers_in_use()
        ready = []
        for entry in os.scandir(self.landing_dir):
            name = entry.name
            if not entry.is_file() or name.startswith(".") or name.endswith(IGNORED_SUFFIXES):
                continue
            if need_marker and not (self.landing_dir / f"{name}{MARKER}").exists():
                continue
            ready.append((entry.stat().st_mtime_ns, name))
        return [self.landing_dir / name for _, name in sorted(ready)]

    # -- one file --------------------------------------------------------------
    def process(self, path: Path) -> dict[str, Any]:
        """Load one file and move it; returns the ingest result of the file plus ``moved_to``."""
        t0 = time.perf_counter()
        log.debug("%s: loading", path.name)
        try:
            result = self._load([path], warehouse=self.warehouse, marts=False).ingest["files"][0]
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # transient (locked, disk) or a bug: retry, then reject
            self._attempts[path.name] += 1
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            if self._attempts[path.name] < MAX_ATTEMPTS:
                log.error("%s: load failed (attempt %d, will retry): %s", path.name, self._attempts[path.name], reason)
                return {"file": path.name, "status": "retry", "error": reason, "seconds": time.perf_counter() - t0}
            result = {
                "file": path.name,
                "status": "refused",
                "error": f"failed {MAX_ATTEMPTS} times: {reason}",
                "rows_read": 0,
                "rows_loaded": 0,
                "rows_duplicate": 0,
                "rows_rejected": 0,
            }
        self._attempts.pop(path.name, None)
        if result["status"] == "refused":
            dest = self._move(path, self.rejected_dir, reason=str(result.get("error") or "refused"))
        else:
            dest = self._move(path, self.processed_dir)
        seconds = time.perf_counter() - t0
        result = {**result, "moved_to": str(dest), "seconds": round(seconds, 3)}
        log.info(
            "%s: %s, read %d, loaded %d, duplicate %d, rejected %d rows in %.2f s -> %s",
            path.name,
            result["status"],
            result.get("rows_read", 0),
            result.get("rows_loaded", 0),
            result.get("rows_duplicate", 0),
            result.get("rows_rejected", 0),
            seconds,
            dest.parent.name,
        )
        return result

    def _move(self, path: Path, target_dir: Path, *, reason: str | None = None) -> Path:
        dest = target_dir / path.name
        if dest.exists():  # same name delivered again: keep both
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
            dest = target_dir / f"{path.name}.{stamp}"
        if reason is not None:  # the reason first: a crash before the move leaves no orphan
            tmp = target_dir / f".{dest.name}.reason.txt.tmp"
            tmp.write_text(reason.rstrip() + "\n", encoding="utf-8")
            os.replace(tmp, target_dir / f"{dest.name}.reason.txt")
        os.replace(path, dest)
        marker = path.with_name(path.name + MARKER)
        if marker.exists():
            os.replace(marker, dest.with_name(dest.name + MARKER))
        return dest

    # -- loop ------------------------------------------------------------------
    def run_once(self) -> list[dict[str, Any]]:
        """Process every file ready now (stops early on a stop request)."""
        results = []
        for path in self.pending():
            if self.stop_event.is_set():
                break
            if path.exists():
                results.append(self.process(path))
                if results[-1]["status"] == "loaded" and results[-1].get("rows_loaded"):
                    self._unrefreshed.append(results[-1])
                    self._last_load = time.monotonic()
                if self.alerts and results[-1]["status"] == "loaded":
                    self.evaluate_alerts()  # after each file: alert times follow the data
        return results

    def refresh_marts_if_due(self, *, now: float | None = None, force: bool = False) -> dict[str, Any] | None:
        """Refresh the marts when records were loaded since the last refresh and the folder
        has been quiet for ``marts_idle_s`` (or ``force``); the refresh's result, else None."""
        if not self._unrefreshed or self.marts_idle_s is None:
            return None
        now = time.monotonic() if now is None else now
        if not force and now - self._last_load < self.marts_idle_s:
            return None
        from analytics.pipeline import refresh_after

        try:  # fraud runs over the records of every load since the last refresh
            out = refresh_after([{"files": self._unrefreshed}], warehouse=self.warehouse)
        except Exception:  # the marts must never stop the loading: retried after the next load
            log.exception("marts refresh failed")
            return None
        self._unrefreshed = []
        return out

    def evaluate_alerts(self) -> None:
        from analytics import store
        from analytics.live import alerts

        try:
            with store.writer(self.warehouse) as con:
                alerts.evaluate(con)
        except Exception:  # alerting must never stop the loading
            log.exception("alert evaluation failed")

    def run(self, *, interval_s: float = 2.0, once: bool = False) -> dict[str, Any]:
        """Poll until stopped (or one pass with ``once``); returns totals."""
        totals: Counter[str] = Counter()
        with _stop_on_signals(self):
            while not self.stop_event.is_set():
                for r in self.run_once():
                    totals[f"files_{r['status']}"] += 1
                    totals["rows_loaded"] += int(r.get("rows_loaded") or 0)
                    totals["rows_rejected"] += int(r.get("rows_rejected") or 0)
                if not self.stop_event.is_set() and self.refresh_marts_if_due(force=once) is not None:
                    totals["marts_refreshes"] += 1
                if once:
                    break
                self.stop_event.wait(interval_s)
        return {"landing_dir": str(self.landing_dir), "stopped": self.stop_event.is_set(), **dict(totals)}


@contextmanager
def _stop_on_signals(watcher: Watcher) -> Iterator[None]:
    """First SIGTERM/SIGINT: stop after the current file; second: abandon it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:  # noqa: ARG001
        if watcher.stop_event.is_set():
            raise KeyboardInterrupt
        log.info("signal %d: stopping after the current file", signum)
        watcher.stop_event.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
