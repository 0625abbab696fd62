"""How fast and how accurate the LLM load users are, on this machine, over
http and over https, side by side in one run.

    .venv/bin/python benchmarks/load_client.py [--runs 3] [--seconds 8] [--json]

Each run measures, against the same fast engine (1 ms decode steps,
8 output tokens) served over http and, in a second engine process, over
https (the engine terminates TLS itself, with a certificate from a CA made
for the run):

1. Capacity: the harness's streaming LLM user and raw Locust FastHttpUser
   posting the same streaming request, each closed loop with no think time,
   one Locust process each, run four times in the order LLM, raw, raw, LLM,
   raw, LLM, LLM, raw (so that drift on a shared machine cancels), pooled:
   requests/s, tokens/s, and requests per CPU-second
   of the Locust process between test start and stop (startup left out: the
   per-request cost, which a shared machine disturbs less than requests/s).
   Budget: LLM users >= 0.9x raw FastHttpUser requests/s.
2. TTFT accuracy: open-loop arrivals at half the LLM user's capacity; the
   client's TTFT from the actual send minus the engine's own TTFT (arrival
   to first token, from its /admin/stats). Budget: <= 2 ms p50, <= 10 ms
   p99. The open-loop send lag (intended to actual send) is reported beside.
3. TLS cost: https capacity against http capacity, and the https TTFT
   difference minus the http one.
4. Open loop against a slow target: 20 requests/s of 100-token streams
   (about 1 s each at 10 ms steps); the achieved arrival rate.

Every figure is printed as the median and range of the runs; the summary at
the end is ready for the README's table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.load.runner import LoadResult, LoadRun  # noqa: E402
from harness.localstack.testing import EngineProcess, engine_process  # noqa: E402
from harness.stats import percentile  # noqa: E402

HERE = Path(__file__).parent / "fixtures" / "load"
FAST = {"decodeStepMs": 1.0, "decodeMsPerSeq": 0.0, "prefillOverheadMs": 0.0, "prefillMsPerToken": 0.0,
        "maxNumSeqs": 4096, "kvCacheTokens": 10_000_000, "enablePrefixCaching": False}
BUDGET_RATIO, BUDGET_P50_MS, BUDGET_P99_MS = 0.9, 2.0, 10.0



class Target:
    """One engine, over http or https, and how Locust and httpx reach it."""

    def __init__(self, engine: EngineProcess, ca_file: str | None) -> None:
        self.url = engine.url
        self.ca_file = ca_file
        self.locust_args = ["--ca-bundle", ca_file] if ca_file else []

    def admin(self, method: str, path: str) -> httpx.Response:
        # a loaded engine may take seconds to answer its stats; a fresh connection each time
        return httpx.request(method, f"{self.url}{path}", verify=self.ca_file or True, timeout=60)


@contextmanager
def targets(params: dict[str, Any]) -> Iterator[dict[str, Target]]:
    """The same engine configuration twice: over http, and over https with a CA made here."""
    import trustme

    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp, ExitStack() as stack:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        files = {name: str(Path(tmp) / name) for name in ("ca.pem", "cert.pem", "key.pem")}
        ca.cert_pem.write_to_path(files["ca.pem"])
        cert.private_key_and_cert_chain_pem.write_to_path(files["cert.pem"])
        cert.private_key_pem.write_to_path(files["key.pem"])
        plain = stack.enter_context(engine_process(params, pod="bench-http"))
        tls = stack.enter_context(engine_process(params, pod="bench-https", tls=(files["cert.pem"], files["key.pem"])))
        yield {"http": Target(plain, None), "https": Target(tls, files["ca.pem"])}


def run_measured(run: LoadRun) -> tuple[LoadResult, float]:
    """Run and return (result, CPU seconds of the Locust process between test
    start and stop, as the fixtures' cpu_meter measures them)."""
    with tempfile.NamedTemporaryFile("r", suffix=".cpu") as cpu_file:
        os.environ["BENCH_CPU_FILE"] = cpu_file.name
        result = run.run()
        text = Path(cpu_file.name).read_text().strip()
    return result, float(text) if text else float("nan")


# Interleaved A B B A B A A B: a drift of the shared machine during the run
# (another process waking, a frequency change) weighs on both users alike
# instead of landing in the ratio, and each user runs first as often as last.
CAPACITY_ORDER = ("llm", "raw", "raw", "llm", "raw", "llm", "llm", "raw")


def capacity(target: Target, seconds: float, users: int) -> dict[str, float]:
    """Each user class four times, interleaved; a class's figures pool its runs."""
    profiles = {"llm": HERE / "llm_users.py", "raw": HERE / "raw_users.py"}
    pooled = {label: {"requests": 0.0, "seconds": 0.0, "cpu": 0.0, "failures": 0.0, "tokens": 0.0}
              for label in profiles}
    for label in CAPACITY_ORDER:
        result, cpu = run_measured(LoadRun(profiles[label], target.url, duration_s=seconds, users=users,
                                           spawn_rate=users, extra_args=target.locust_args))
        row = result.stats[result.stats["Type"] == "POST"].iloc[0]
        acc = pooled[label]
        acc["requests"] += float(row["Request Count"])
        # Locust's Requests/s is the count over the span it saw: pooled as count over summed spans
        acc["seconds"] += float(row["Request Count"]) / float(row["Requests/s"])
        acc["cpu"] += cpu
        acc["failures"] += int(row["Failure Count"])
        if label == "llm":
            acc["tokens"] += float(result.records["output_tokens"].sum())
    out: dict[str, float] = {}
    for label, acc in pooled.items():
        out[f"{label}_rps"] = acc["requests"] / acc["seconds"]
        out[f"{label}_failures"] = acc["failures"]
        out[f"{label}_per_cpu_s"] = acc["requests"] / acc["cpu"] if acc["cpu"] else float("nan")
    out["llm_tokens_per_s"] = pooled["llm"]["tokens"] / pooled["llm"]["seconds"]
    out["ratio"] = out["llm_rps"] / out["raw_rps"]
    # per CPU-second of the generator: the ratio that holds when other work shares the cores
    out["cpu_ratio"] = out["llm_per_cpu_s"] / out["raw_per_cpu_s"]
    return out


def ttft_accuracy(target: Target, rate: float, seconds: float) -> dict[str, float]:
    target.admin("DELETE", "/admin/stats")
    os.environ["BENCH_RATE"], os.environ["BENCH_TOKENS"] = f"{rate}", "8"
    result = LoadRun(HERE / "open_rate.py", target.url, duration_s=seconds, users=1, spawn_rate=1,
                     extra_args=target.locust_args).run()
    engine = target.admin("GET", "/admin/stats").json()["ttft_ms"]
    ok = result.records[result.records["ok"]]
    # From the actual send: the open-loop origin (the intended send time) adds the
    # generator's own scheduling lag, which the engine cannot see; reported apart.
    client = sorted(((ok["ttft_s"] - ok["send_lag_s"]) * 1000).tolist())
    lag = sorted((ok["send_lag_s"] * 1000).tolist())
    return {"rate": rate, "requests": len(result.records), "failures": int((~result.records["ok"]).sum()),
            "diff_p50_ms": percentile(client, 0.5) - engine["p50"],
            "diff_p99_ms": percentile(client, 0.99) - engine["p99"],
            "send_lag_p50_ms": percentile(lag, 0.5), "send_lag_p99_ms": percentile(lag, 0.99)}


def open_loop_rate(seconds: float) -> dict[str, float]:
    with engine_process({"decodeStepMs": 10.0, "maxNumSeqs": 1024}) as slow:
        os.environ["BENCH_RATE"], os.environ["BENCH_TOKENS"] = "20", "100"
        result = LoadRun(HERE / "open_rate.py", slow.url, duration_s=seconds, users=1, spawn_rate=1).run()
    df = result.records.sort_values("start")
    span = (df["start"].iloc[-1] - df["start"].iloc[0]).total_seconds()
    achieved = (len(df) - 1) / span
    return {"achieved": achieved, "error_pct": 100 * abs(achieved - 20) / 20, "failures": int((~df["ok"]).sum())}


def one_run(seconds: float, users: int) -> dict[str, float]:
    """Every figure of one run, flat: `http.llm_rps`, `https.diff_p99_ms`, `tls.rps_cost_pct`..."""
    flat: dict[str, float] = {}
    with targets(FAST) as both:
        for scheme, target in both.items():
            cap = capacity(target, seconds, users)
            acc = ttft_accuracy(target, round(cap["llm_rps"] / 2, 1), seconds)
            flat.update({f"{scheme}.{k}": v for k, v in {**cap, **acc}.items()})
    flat["tls.rps_cost_pct"] = 100 * (1 - flat["https.llm_rps"] / flat["http.llm_rps"])
    flat["tls.diff_p50_ms"] = flat["https.diff_p50_ms"] - flat["http.diff_p50_ms"]
    flat["tls.diff_p99_ms"] = flat["https.diff_p99_ms"] - flat["http.diff_p99_ms"]
    flat.update({f"open_loop.{k}": v for k, v in open_loop_rate(seconds).items()})
    return flat


def spread(runs: list[dict[str, float]], key: str) -> tuple[float, float, float]:
    values = [r[key] for r in runs]
    return statistics.median(values), min(values), max(values)


def summary(runs: list[dict[str, float]]) -> list[str]:
    def fig(key: str, fmt: str = ".2f") -> str:
        med, lo, hi = spread(runs, key)
        return f"{med:{fmt}} ({lo:{fmt}} to {hi:{fmt}})"

    def verdict(ok: Callable[[float], bool], *keys: str) -> str:
        return "within budget" if all(ok(spread(runs, k)[0]) for k in keys) else "OVER BUDGET"

    lines = [f"median (range) of {len(runs)} runs, {os.cpu_count()} cores"]
    for scheme in ("http", "https"):
        lines += [
            f"{scheme}: LLM users {fig(f'{scheme}.llm_rps', ',.0f')} req/s "
            f"({fig(f'{scheme}.llm_tokens_per_s', ',.0f')} tokens/s, {fig(f'{scheme}.llm_per_cpu_s', ',.0f')} "
            f"req per CPU-second), raw FastHttpUser {fig(f'{scheme}.raw_rps', ',.0f')} req/s: ratio "
            f"{fig(f'{scheme}.ratio')} (budget >= {BUDGET_RATIO}: "
            f"{verdict(lambda v: v >= BUDGET_RATIO, f'{scheme}.ratio')}); per CPU-second ratio "
            f"{fig(f'{scheme}.cpu_ratio')}",
            f"{scheme}: client TTFT minus engine TTFT p50 {fig(f'{scheme}.diff_p50_ms')} ms, p99 "
            f"{fig(f'{scheme}.diff_p99_ms')} ms (budget {BUDGET_P50_MS:g} / {BUDGET_P99_MS:g} ms: "
            f"{verdict(lambda v: v <= BUDGET_P50_MS, f'{scheme}.diff_p50_ms')} / "
            f"{verdict(lambda v: v <= BUDGET_P99_MS, f'{scheme}.diff_p99_ms')}); open-loop send lag p50 "
            f"{fig(f'{scheme}.send_lag_p50_ms')} ms, p99 {fig(f'{scheme}.send_lag_p99_ms')} ms",
        ]
    lines += [
        f"TLS cost: {fig('tls.rps_cost_pct', '.1f')} % fewer LLM requests/s over https; TTFT difference "
        f"{fig('tls.diff_p50_ms')} ms p50, {fig('tls.diff_p99_ms')} ms p99 above http's",
        f"open loop against a slow target: 20 req/s asked, {fig('open_loop.achieved')} achieved "
        f"({fig('open_loop.error_pct', '.1f')} % off)",
    ]
    failures = sum(r[k] for r in runs for k in r if k.endswith("failures"))
    if failures:
        lines.append(f"WARNING: {failures:.0f} failed requests across the runs: the figures are suspect")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs to take the median and range of (at least 3)")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.runs < 3:
        ap.error("--runs: at least 3, a median of fewer says little")
    runs = []
    for i in range(args.runs):
        runs.append(one_run(args.seconds, args.users))
        if not args.json:
            print(f"run {i + 1}/{args.runs}: " + ", ".join(
                f"{k} {runs[-1][k]:.2f}" for k in ("http.ratio", "https.ratio", "http.cpu_ratio", "http.diff_p50_ms",
                                                    "http.diff_p99_ms", "https.diff_p50_ms", "https.diff_p99_ms")),
                  flush=True)
    if args.json:
        print(json.dumps({"cores": os.cpu_count(), "runs": runs}, indent=2))
        return
    print("\n".join(["", "summary:", *summary(runs)]))


if __name__ == "__main__":
    main()
