"""``python -m analytics audit verify``: check the audit log's hash chain.

Exits 0 with ``{"ok": true, "rows": N, "head": "<hash of the last row>"}`` when every row
matches its hash and links to the one before; exits 1 with the first bad ``audit_id`` and
what is wrong otherwise. Keep the printed head somewhere else (a ticket, a mail): a log cut
short at its end still chains, and only a head kept elsewhere shows it.
"""

from __future__ import annotations

import argparse
from typing import Any

from analytics.config import settings
from analytics.security import audit


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("verify",), help="what to do")


def run(args: argparse.Namespace) -> dict[str, Any]:
    result = audit.verify(args.warehouse or settings().warehouse_path)
    if not result["ok"]:
        return {
            **result,
            "_exit": 1,
            "_reason": f"audit log tampered at audit_id {result['first_bad_id']}: {result['problem']}",
        }
    return result
