"""How fast and how accurate the LLM load users are, on this machine.

    .venv/bin/python benchmarks/load_client.py [--seconds 8] [--json]

1. Capacity: the harness's streaming LLM user and raw Locust FastHttpUser,
   each closed loop with no think time against the same fast engine (1 ms
   decode steps, 8 output tokens), one Locust process each, in the same run:
   requests/s, tokens/s, and both per CPU-second of the Locust process.
2. TTFT accuracy: open-loop arrivals at half the LLM user's capacity; the
   client's TTFT from the actual send against the engine's own (arrival to
   first token, from its /admin/stats); the open-loop send lag (intended to
   actual send, part of open-loop latencies) reported beside it.
3. Open loop against a slow target: 20 requests/s of 100-token streams
   (about 1 s each at 10 ms steps); the achieved arrival rate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.load.runner import LoadRun  # noqa: E402
from harness.localstack.testing import engine_process  # noqa: E402
from harness.stats import percentile  # noqa: E402

HERE = Path(__file__).parent / "fixtures" / "load"
FAST = {"decodeStepMs": 1.0, "decodeMsPerSeq": 0.0, "prefillOverheadMs": 0.0, "prefillMsPerToken": 0.0,
        "maxNumSeqs": 4096, "kvCacheTokens": 10_000_000, "enablePrefixCaching": False}


def run_measured(run: LoadRun) -> tuple[object, float]:
    """Run and return (result, CPU seconds of the Locust process)."""
    run.start()
    assert run.process is not None
    proc = psutil.Process(run.process.pid)
    cpu = 0.0
    while run.process.poll() is None:
        try:
            t = proc.cpu_times()
            cpu = t.user + t.system
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    return run.wait(), cpu


def capacity(url: str, seconds: float, users: int) -> dict:
    out = {}
    for label, profile in (("llm", HERE / "llm_users.py"), ("raw", HERE / "raw_users.py")):
        result, cpu = run_measured(LoadRun(profile, url, duration_s=seconds, users=users, spawn_rate=users))
        stats = result.stats  # type: ignore[attr-defined]
        row = stats[stats["Type"] == "POST"].iloc[0]
        rps = float(row["Requests/s"])
        fails = int(row["Failure Count"])
        out[label] = {"requests_per_s": rps, "failures": fails, "cpu_s": cpu,
                      "requests_per_cpu_s": float(row["Request Count"]) / cpu if cpu else float("nan")}
        if label == "llm":
            df = result.records  # type: ignore[attr-defined]
            out[label]["tokens_per_s"] = float(df["output_tokens"].sum()) / seconds
            out[label]["tokens_per_cpu_s"] = float(df["output_tokens"].sum()) / cpu if cpu else float("nan")
    out["llm_over_raw"] = out["llm"]["requests_per_s"] / out["raw"]["requests_per_s"]
    return out


def ttft_accuracy(url: str, rate: float, seconds: float) -> dict:
    httpx.delete(f"{url}/admin/stats")
    os.environ["BENCH_RATE"], os.environ["BENCH_TOKENS"] = f"{rate}", "8"
    result = LoadRun(HERE / "open_rate.py", url, duration_s=seconds, users=1, spawn_rate=1).run()
    df = result.records
    ok = df[df["ok"]]
    # From the actual send: the open-loop origin (the intended send time) adds the
    # generator's own scheduling lag, which the engine cannot see; reported apart.
    client = sorted(((ok["ttft_s"] - ok["send_lag_s"]) * 1000).tolist())
    lag = sorted((ok["send_lag_s"] * 1000).tolist())
    engine = httpx.get(f"{url}/admin/stats").json()["ttft_ms"]
    return {"rate": rate, "requests": len(df), "failures": int((~df["ok"]).sum()),
            "client_ttft_p50_ms": percentile(client, 0.5), "client_ttft_p99_ms": percentile(client, 0.99),
            "engine_ttft_p50_ms": engine["p50"], "engine_ttft_p99_ms": engine["p99"],
            "send_lag_p50_ms": percentile(lag, 0.5), "send_lag_p99_ms": percentile(lag, 0.99),
            "diff_p50_ms": percentile(client, 0.5) - engine["p50"],
            "diff_p99_ms": percentile(client, 0.99) - engine["p99"]}


def open_loop_rate(seconds: float) -> dict:
    with engine_process({"decodeStepMs": 10.0, "maxNumSeqs": 1024}) as slow:
        os.environ["BENCH_RATE"], os.environ["BENCH_TOKENS"] = "20", "100"
        result = LoadRun(HERE / "open_rate.py", slow.url, duration_s=seconds, users=1, spawn_rate=1).run()
    df = result.records.sort_values("start")
    span = (df["start"].iloc[-1] - df["start"].iloc[0]).total_seconds()
    achieved = (len(df) - 1) / span
    return {"target": 20.0, "achieved": achieved, "error_pct": 100 * abs(achieved - 20) / 20,
            "e2e_p50_s": float(df["e2e_s"].median()), "failures": int((~df["ok"]).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with engine_process(FAST, pod="bench-0") as fast:
        cap = capacity(fast.url, args.seconds, args.users)
        acc = ttft_accuracy(fast.url, round(cap["llm"]["requests_per_s"] / 2, 1), args.seconds)
    ol = open_loop_rate(args.seconds)
    result = {"cores": os.cpu_count(), "capacity": cap, "ttft_accuracy": acc, "open_loop": ol}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    llm, raw = cap["llm"], cap["raw"]
    print(f"capacity: LLM users {llm['requests_per_s']:.0f} req/s ({llm['tokens_per_s']:.0f} tokens/s; "
          f"{llm['requests_per_cpu_s']:.0f} req and {llm['tokens_per_cpu_s']:.0f} tokens per CPU-second), raw "
          f"FastHttpUser {raw['requests_per_s']:.0f} req/s ({raw['requests_per_cpu_s']:.0f} per CPU-second): "
          f"ratio {cap['llm_over_raw']:.2f}")
    print(f"TTFT at {acc['rate']} req/s (half capacity): client p50 {acc['client_ttft_p50_ms']:.2f} / p99 "
          f"{acc['client_ttft_p99_ms']:.2f} ms, engine p50 {acc['engine_ttft_p50_ms']:.2f} / p99 "
          f"{acc['engine_ttft_p99_ms']:.2f} ms -> difference p50 {acc['diff_p50_ms']:.2f} ms, p99 "
          f"{acc['diff_p99_ms']:.2f} ms ({acc['failures']} failures); open-loop send lag p50 "
          f"{acc['send_lag_p50_ms']:.2f} / p99 {acc['send_lag_p99_ms']:.2f} ms")
    print(f"open loop against a slow target: target 20 req/s, achieved {ol['achieved']:.2f} req/s "
          f"({ol['error_pct']:.1f}% off), e2e p50 {ol['e2e_p50_s']:.2f} s, failures {ol['failures']}")


if __name__ == "__main__":
    main()
