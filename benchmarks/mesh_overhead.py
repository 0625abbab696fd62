"""What the local mesh proxy adds to an LLM stream, measured against direct
engine calls in the same run.

    .venv/bin/python benchmarks/mesh_overhead.py [--streams 50,200] [--rounds 3] [--big 1000] [--json]

Starts a stack with one fast engine (20 ms decode step, no prefill cost)
behind the proxy (a route with timeout, retries, outlier detection and a
connection pool), then for each stream count N keeps N streams in flight
(closed loop: a new stream starts when one ends; starts staggered, as in
steady traffic) straight to the engine and then through the gateway, in
alternating phases, and reports:

- TTFT p50 / p99, direct and through the mesh, and the overhead (difference);
- chunk hold-back: how late token frames arrive against the engine's fixed
  20 ms schedule, through the mesh minus direct, p99;
- a burst of `--big` concurrent streams through the proxy: errors, the slowest
  connection setup, and TTFT p99.

Everything shares this machine's cores: the client, the proxy and the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).parent))
from sse_client import StreamRecord, run_closed_loop, run_streams  # noqa: E402

from harness.localstack.testing import running_stack  # noqa: E402
from harness.stats import percentile  # noqa: E402

HERE = Path(__file__).parent / "fixtures" / "mesh-bench"
STEP_S = 0.020


def _lateness(records: list[StreamRecord]) -> list[float]:
    """Each token's arrival against the ideal schedule set by the stream's first token."""
    out = []
    for r in records:
        if len(r.tokens) < 2:
            continue
        first = r.tokens[0]
        out.extend(t - (first + k * STEP_S) for k, t in enumerate(r.tokens))
    return out


def _summary(records: list[StreamRecord]) -> dict:
    ttft = [r.ttft for r in records if r.ttft is not None and r.error is None]
    return {"errors": sum(r.error is not None or r.status != 200 for r in records),
            "ttft_p50_ms": 1000 * percentile(ttft, 0.5), "ttft_p99_ms": 1000 * percentile(ttft, 0.99),
            "lateness_p99_ms": 1000 * percentile(_lateness(records), 0.99),
            "connect_max_ms": 1000 * max((r.connected - r.started for r in records if r.connected), default=0)}


async def measure(engine: tuple[str, int], gateway: tuple[str, int], streams: int, rounds: int,
                  tokens: int, seconds: float) -> dict:
    direct: list[StreamRecord] = []
    mesh: list[StreamRecord] = []
    length = tokens * STEP_S
    for _ in range(rounds):
        direct += await run_closed_loop(*engine, streams, seconds, tokens, length)
        await asyncio.sleep(0.3)
        mesh += await run_closed_loop(*gateway, streams, seconds, tokens, length)
        await asyncio.sleep(0.3)
    d, m = _summary(direct), _summary(mesh)
    return {"streams": streams, "direct": d, "mesh": m,
            "ttft_overhead_p50_ms": m["ttft_p50_ms"] - d["ttft_p50_ms"],
            "ttft_overhead_p99_ms": m["ttft_p99_ms"] - d["ttft_p99_ms"],
            "holdback_p99_ms": m["lateness_p99_ms"] - d["lateness_p99_ms"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", default="50,200")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=4.0, help="length of each direct / mesh phase")
    ap.add_argument("--big", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import tempfile

    import uvloop

    with tempfile.TemporaryDirectory() as state, \
            running_stack(topology=HERE / "topology.yaml", istio=[HERE / "istio"], prometheus=False,
                          state_dir=Path(state)) as stack:
        pod = stack.pods(ready=True)[0]
        engine = ("127.0.0.1", int(pod["port"]))
        gw = urlparse(stack.state.gateway)
        gateway = ("127.0.0.1", int(gw.port or 80))

        async def run() -> dict:
            await run_streams(*gateway, 20, 5)  # warm the proxy's upstream pool
            rows = [await measure(engine, gateway, int(n), args.rounds, args.tokens, args.seconds)
                    for n in args.streams.split(",")]
            big = _summary(await run_streams(*gateway, args.big, 100, timeout=300)) if args.big else None
            return {"cores": os.cpu_count(), "rows": rows, "big": big, "big_streams": args.big}

        result = uvloop.run(run())
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for row in result["rows"]:
        d, m = row["direct"], row["mesh"]
        print(f"{row['streams']:4d} streams: TTFT direct p50 {d['ttft_p50_ms']:.1f} / p99 {d['ttft_p99_ms']:.1f} ms, "
              f"mesh p50 {m['ttft_p50_ms']:.1f} / p99 {m['ttft_p99_ms']:.1f} ms -> overhead p50 "
              f"{row['ttft_overhead_p50_ms']:.1f} ms, p99 {row['ttft_overhead_p99_ms']:.1f} ms; chunk hold-back "
              f"p99 {row['holdback_p99_ms']:.1f} ms; errors {d['errors']}+{m['errors']}")
    if result["big"]:
        b = result["big"]
        print(f"{result['big_streams']} concurrent streams through the proxy: errors {b['errors']}, slowest "
              f"connection setup {b['connect_max_ms']:.0f} ms, TTFT p99 {b['ttft_p99_ms']:.0f} ms")


if __name__ == "__main__":
    main()
