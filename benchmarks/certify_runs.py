"""The smoke certification run N times on the reference stack: how many
false failures (a requirement failed on a stack that keeps every promise),
how long each run took against the 5-minute budget, and per requirement the
false-failure probability its sample sizes give.

    .venv/bin/python benchmarks/certify_runs.py [--runs 10] [--profile smoke]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runs import Figure, check_runs, summary_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = {"smoke": 300.0, "full": 1800.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--profile", choices=("smoke", "full"), default="smoke")
    args = parser.parse_args()
    runs = check_runs(args.runs)
    verdicts: dict[str, Counter[str]] = {}
    durations: dict[str, list[float]] = {}
    wall: list[float] = []
    false_failures = 0
    summaries = []
    with tempfile.TemporaryDirectory(prefix="certify-runs-") as reports:
        for i in range(runs):
            t0 = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "harness", "certify", "--target", "local", "--profile",
                                   args.profile, "--reports", reports], cwd=ROOT, capture_output=True, text=True)
            wall.append(time.monotonic() - t0)
            newest = max(Path(reports).iterdir(), key=lambda p: p.stat().st_mtime)
            summary = json.loads((newest / "summary.json").read_text())
            summaries.append(summary)
            failed = [r["id"] for r in summary["requirements"] if r["verdict"] == "fail"]
            false_failures += bool(failed)
            for r in summary["requirements"]:
                verdicts.setdefault(r["id"], Counter())[r["verdict"]] += 1
                durations.setdefault(r["id"], []).append(r["duration_s"])
            print(f"run {i + 1}/{runs}: exit {proc.returncode}, {wall[-1]:.0f} s, failed: {failed or 'none'}",
                  flush=True)
    print()
    print(summary_table(f"Certification, {args.profile} profile, on the reference stack",
                        [Figure("run duration", wall, "s", BUDGET_S[args.profile])], runs,
                        note=f"False failures: {false_failures} of {runs} runs (budget 0)."))
    print()
    probability = {r["id"]: r.get("false_failure_probability") for r in summaries[-1]["requirements"]}
    print("| requirement | pass | fail | inconclusive | median duration | P(false failure) from sampling |")
    print("|---|---|---|---|---|---|")
    for rid, count in sorted(verdicts.items()):
        p = probability.get(rid)
        shown = "not analytical (measured here)" if p is None else f"{p:.1g}"
        print(f"| {rid} | {count['pass']} | {count['fail']} | {count['inconclusive']} | "
              f"{statistics.median(durations[rid]):.1f} s | {shown} |")
    return 1 if false_failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
