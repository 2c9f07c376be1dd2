"""The seeded demo world: a realistic GB operator's CDRs with known injected anomalies.

``generate(out_dir, subscribers=, months=)`` writes v1 extracts, reference files and
``truth.json``; ``build(warehouse, out_dir, ...)`` also loads them. See docs/demo.md.
"""

from __future__ import annotations

from analytics.demo.generate import World, build, generate, period

__all__ = ["World", "build", "generate", "period"]
