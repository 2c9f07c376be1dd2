"""Demo generator throughput: rows/s generated and written, peak memory, and the size flags
that give a target row count (10 million by default).

    python benchmarks/bench_demo.py --subscribers 3000 --months 2       # small, quick
    python benchmarks/bench_demo.py --subscribers 25000 --months 4      # ~10 million rows

Prints one line of figures per run; ``--target-rows`` also prints the --subscribers value
that gives that many rows for the chosen --months (measured rows per line-month).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.demo import generate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subscribers", type=int, default=3000)
    p.add_argument("--months", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--target-rows", type=int, default=10_000_000)
    p.add_argument("--out", type=Path, default=None, help="keep the files here (default: a temp dir, removed)")
    args = p.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_demo_"))
    steps: list[tuple[float, str, float]] = []
    t0 = time.perf_counter()
    world = generate(
        out,
        subscribers=args.subscribers,
        months=args.months,
        seed=args.seed,
        on_progress=lambda f, m: steps.append((f, m, time.perf_counter() - t0)),
    )
    seconds = time.perf_counter() - t0
    size_mb = sum(p.stat().st_size for p in world.extracts) / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = world.records
    per_line_month = rows / args.subscribers / args.months
    print(
        f"subscribers={args.subscribers} months={args.months} rows={rows:,} files={len(world.extracts)} "
        f"extract_mb={size_mb:.0f} seconds={seconds:.1f} rows_per_s={rows / seconds:,.0f} peak_rss_mb={peak_mb:.0f}"
    )
    marks = [s for s in steps if s[1].startswith(("generating", "injecting", "rating", "writing extract files (1/"))]
    print("stages: " + ", ".join(f"{m.split(' (')[0]} @ {t:.1f}s" for _, m, t in marks))
    for months in (args.months, 4, 12):
        subs = int(round(args.target_rows / per_line_month / months))
        print(f"for ~{args.target_rows:,} rows: --subscribers {subs} --months {months}")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
