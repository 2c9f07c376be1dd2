"""``python -m analytics COMMAND``: the batch interface of cdr-extract v1.

Each command lives in its own module, which exposes::

    def configure(parser: argparse.ArgumentParser) -> None: ...   # its own options
    def run(args: argparse.Namespace) -> dict: ...                 # the JSON object

Every command gets ``--warehouse PATH`` (default: the embedded warehouse under
``data/``) and ``--json``. With ``--json`` the returned object is printed as one JSON
object on stdout; without it, a readable rendering. Logs go to stderr. A
:class:`CommandError` (or any other failure) exits non-zero with a one-line reason on
stderr: exit 2 for an operator error (a CommandError, a bad option, a path that does not
exist or cannot be read), 1 for anything else. A command may return ``{"_exit": N, ...}`` to print its JSON and still exit N
(ingest does, when a file is refused).
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import importlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("analytics")

# name -> (module, one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("analytics.ingest.command", "validate and load extracts into the warehouse, idempotently"),
    "summary": ("analytics.summary", "the monthly executive summary"),
    "demo": ("analytics.demo.command", "generate the seeded demo world under data/ and load it"),
    "forecast": ("analytics.forecast.command", "per-region forecasts with backtest accuracy"),
    "indicators": ("analytics.marketing.indicators_command", "per-subscriber behavioural indicators"),
    "segments": ("analytics.marketing.segments_command", "subscriber segments and plan recommendations"),
    "reconcile": ("analytics.billing.command", "re-rate records and compare with billed charges"),
    "fraud": ("analytics.fraud.command", "fraud and anomaly detection"),
    "watch": ("analytics.live.watch_command", "load new files from a landing folder as they arrive"),
    "users": ("analytics.security.users_command", "manage local sign-in accounts"),
    "retention": ("analytics.security.retention_command", "delete record-level data past retention"),
    "migrate": ("analytics.lake_command", "move a single-file warehouse's records into the lake (Delta table)"),
    "compact": ("analytics.lake_command", "merge the lake's small files, month by month"),
    "audit": ("analytics.security.audit_command", "verify the audit log's hash chain"),
}


class CommandError(RuntimeError):
    """A failure with a one-line reason for the operator."""


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, ensure_ascii=False, allow_nan=False)


def _render(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, ensure_ascii=False, indent=2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analytics", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument(
            "--warehouse", type=Path, default=None, help="DuckDB warehouse file (default: data/warehouse.duckdb)"
        )
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        p.set_defaults(_module=module_name)
    return parser


def _configure_subparsers(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Let the chosen command's module add its own options (imports only that module)."""
    sub_action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    chosen = next((a for a in argv if a in COMMANDS), None)
    if chosen is None:
        return
    module = importlib.import_module(COMMANDS[chosen][0])
    module.configure(sub_action.choices[chosen])


PRIVATE_UMASK = 0o077  # files 0600, folders 0700: warehouses, snapshots, lake files, exports, reports


def main(argv: list[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)  # everything a command creates holds (or may hold) personal data
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        _configure_subparsers(parser, argv)
    except ModuleNotFoundError as exc:
        print(f"error: command not available: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    module = importlib.import_module(args._module)
    try:
        result = module.run(args)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        # a path the operator gave (an option, an --out file, the warehouse's folder)
        log.debug("command failed", exc_info=True)
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}".replace("error: : ", "error: "), file=sys.stderr)
        return 2
    except Exception as exc:  # one line for the operator; the trace with -v
        log.debug("command failed", exc_info=True)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {type(exc).__name__}: {reason}", file=sys.stderr)
        return 1
    exit_code = 0
    if isinstance(result, dict):
        exit_code = int(result.pop("_exit", 0))
        reason = result.pop("_reason", None)
        if reason and exit_code:
            print(f"error: {reason}", file=sys.stderr)
    print(to_json(result) if args.json else _render(result))
    return exit_code
