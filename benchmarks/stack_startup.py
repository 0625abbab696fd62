"""How long `harness stack up` takes to be ready, apart from configured startup delays.

    .venv/bin/python benchmarks/stack_startup.py [--runs 3] [--topology F] [--json]

Starts the stack detached (engines, mesh proxy, Prometheus) under a private
state directory, records the time until the state file says it is up, stops
it, and prints the median and range over the runs. The issue's budget: 10 s
beyond the largest configured startup delay.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from runs import Figure, check_runs, summary_table  # noqa: E402

from harness.localstack.detached import start_detached, stop_detached
from harness.localstack.stack import StackOptions
from harness.localstack.topology import DEFAULT_TOPOLOGY, load_topology


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--topology", type=Path, default=DEFAULT_TOPOLOGY)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    check_runs(a.runs)
    topo = load_topology(a.topology)
    max_delay = max(d.startup_delay for d in topo.deployments)
    pods = sum(d.replicas for d in topo.deployments)
    times = []
    with tempfile.TemporaryDirectory() as state_dir:
        os.environ["HARNESS_STATE_DIR"] = state_dir
        for i in range(a.runs):
            name = f"bench-{i}"
            t0 = time.monotonic()
            start_detached(StackOptions(name=name, topology=a.topology))
            times.append(time.monotonic() - t0)
            stop_detached(name)
    beyond = [t - max_delay for t in times]
    if a.json:
        print(json.dumps({"pods": pods, "max_startup_delay_s": max_delay, "runs": a.runs, "ready_s": times,
                          "beyond_startup_delay_s": beyond, "budget_s": 10.0}))
        return
    print(summary_table("Stack startup (benchmarks/stack_startup.py)",
                        [Figure("ready after `stack up`", times, unit="s", digits=2),
                         Figure("beyond the largest startup delay", beyond, unit="s", budget=10.0, digits=2)],
                        a.runs, f"{pods} engine pods (+ mesh proxy, Prometheus), largest startup delay "
                        f"{max_delay:.1f} s."))


if __name__ == "__main__":
    main()
