"""How many concurrent token streams one engine process holds on schedule.

    .venv/bin/python benchmarks/engine_capacity.py [--streams 200,250,300] [--runs 3] [--seconds 6] [--json]

Starts one engine process (decode step 20 ms, no per-sequence growth, so every
stream should see a token each 20 ms) and, beside it on the same machine, a
load client in its own process that opens N streaming chat completions at
once and timestamps every token event. For each N it prints:

- the engine's schedule lateness (how late each step's tokens left, from the
  engine's own /admin/stats), p50 / p99 / max;
- the client-side inter-token gap p50 / p99 (what a user would see; it adds the
  client's own scheduling delay on the shared cores);
- token events per second actually delivered.

The issue's bar: at least 200 streams at 20 ms (10,000 token events/s) with
engine lateness p99 <= 5 ms. Each N is measured `--runs` times; the summary
gives the median and range, and the largest N that holds in every run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from runs import Figure, check_runs, summary_table  # noqa: E402
from sse_client import run_streams  # noqa: E402

from harness.stats import percentile  # noqa: E402

ENGINE_PARAMS = {"maxNumSeqs": 4096, "kvCacheTokens": 50_000_000, "decodeStepMs": 20.0, "decodeMsPerSeq": 0.0,
                 "prefillOverheadMs": 0.0, "prefillMsPerToken": 0.0, "enablePrefixCaching": False}
LATENESS_BUDGET_MS = 5.0


async def _client(port: int, streams: int, tokens: int) -> dict:
    t0 = time.perf_counter()
    records = await run_streams("127.0.0.1", port, streams, tokens, timeout=tokens * 0.02 * 10 + 30)
    elapsed = time.perf_counter() - t0
    gaps = [b - a for r in records for a, b in zip(r.tokens, r.tokens[1:], strict=False)]
    return {"events": sum(len(r.tokens) for r in records), "elapsed_s": elapsed,
            "errors": sum(r.error is not None for r in records),
            "client_gap_p50_ms": 1000 * percentile(gaps, 0.5), "client_gap_p99_ms": 1000 * percentile(gaps, 0.99)}


def _client_process(port: int, streams: int, tokens: int, out: mp.Queue) -> None:
    try:
        import uvloop
        out.put(uvloop.run(_client(port, streams, tokens)))
    except Exception as exc:  # reported by the parent
        out.put({"error": repr(exc)})


def run_one(port: int, streams: int, seconds: float) -> dict:
    tokens = int(seconds / 0.02)
    httpx.delete(f"http://127.0.0.1:{port}/admin/stats")
    q: mp.Queue = mp.Queue()
    proc = mp.Process(target=_client_process, args=(port, streams, tokens, q))
    proc.start()
    try:
        client = q.get(timeout=seconds * 10 + 60)
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    if "error" in client:
        raise RuntimeError(client["error"])
    stats = httpx.get(f"http://127.0.0.1:{port}/admin/stats").json()
    lat = stats["lateness_ms"]
    return {"streams": streams, "engine_lateness_p50_ms": lat["p50"], "engine_lateness_p99_ms": lat["p99"],
            "engine_lateness_max_ms": lat["max"], "client_gap_p50_ms": client["client_gap_p50_ms"],
            "client_gap_p99_ms": client["client_gap_p99_ms"],
            "token_events_per_s": client["events"] / client["elapsed_s"],
            "holds": lat["p99"] is not None and lat["p99"] <= LATENESS_BUDGET_MS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", default="200,250,300")
    ap.add_argument("--runs", type=int, default=3, help="measurements per stream count (median and range)")
    ap.add_argument("--seconds", type=float, default=6.0, help="stream length (tokens = seconds / 20 ms)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    check_runs(args.runs)
    engine = subprocess.Popen([sys.executable, "-m", "harness.localstack.engine", "--port", "0", "--pod", "bench-0",
                               "--params", json.dumps(ENGINE_PARAMS)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    by_n: dict[int, list[dict]] = {}
    try:
        port = json.loads(engine.stdout.readline())["port"]  # type: ignore[union-attr]
        for n in (int(x) for x in args.streams.split(",")):
            rows = by_n[n] = []
            for i in range(args.runs):
                row = run_one(port, n, args.seconds)
                rows.append(row)
                if not args.json:
                    print(f"run {i + 1}: {n:5d} streams: engine lateness p50 {row['engine_lateness_p50_ms']:.2f} ms, "
                          f"p99 {row['engine_lateness_p99_ms']:.2f} ms, max {row['engine_lateness_max_ms']:.2f} ms; "
                          f"client gap p50 {row['client_gap_p50_ms']:.1f} ms, p99 {row['client_gap_p99_ms']:.1f} ms; "
                          f"{row['token_events_per_s']:.0f} token events/s  {'holds' if row['holds'] else 'LATE'}",
                          flush=True)
            if not any(r["holds"] for r in rows):
                break
    finally:
        engine.terminate()
        engine.wait(timeout=10)
    held = [n for n, rows in by_n.items() if all(r["holds"] for r in rows)]
    summary = {"cores": os.cpu_count(), "runs": by_n, "largest_streams_on_schedule_in_every_run": max(held, default=0),
               "budget_p99_ms": LATENESS_BUDGET_MS}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    figures = []
    for n, rows in by_n.items():
        figures += [Figure(f"{n} streams: engine lateness p99", [r["engine_lateness_p99_ms"] for r in rows],
                           budget=LATENESS_BUDGET_MS, digits=2),
                    Figure(f"{n} streams: engine lateness p50", [r["engine_lateness_p50_ms"] for r in rows], digits=2),
                    Figure(f"{n} streams: client inter-token gap p99", [r["client_gap_p99_ms"] for r in rows]),
                    Figure(f"{n} streams: token events/s", [r["token_events_per_s"] for r in rows], unit="",
                           digits=0)]
    print()
    print(summary_table("Engine capacity (benchmarks/engine_capacity.py)", figures, args.runs,
                        f"Largest stream count with lateness p99 <= {LATENESS_BUDGET_MS:g} ms in every run: "
                        f"{summary['largest_streams_on_schedule_in_every_run']}."))


if __name__ == "__main__":
    main()
