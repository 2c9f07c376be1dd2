"""Security, privacy and compliance (issue 10): accounts, roles, audit log, retention.

* :mod:`~analytics.security.roles`: the role x page x permission table (data).
* :mod:`~analytics.security.accounts`: local users (argon2id hashes) and lock-out.
* :mod:`~analytics.security.sessions`: the signed, expiring sign-in cookie and its ticket.
* :mod:`~analytics.security.audit`: the append-only, hash-chained audit log.
* :mod:`~analytics.security.db`: the security store those live in, apart from the warehouse.
* :mod:`~analytics.security.retention`: deletion of record-level data past N months.

Masking, pseudonyms and k-anonymity live in :mod:`analytics.privacy`. Nothing here
imports streamlit; the sign-in forms are in ``pages/_auth.py``.
"""

from __future__ import annotations

from analytics.security.schema import SecuritySettings, ensure_security_schema, security_settings

__all__ = ["SecuritySettings", "ensure_security_schema", "security_settings"]
