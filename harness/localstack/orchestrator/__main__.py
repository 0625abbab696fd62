"""The process of a detached stack: `python -m harness.localstack.orchestrator
--name N [--topology F] [--istio D]... [--no-prometheus] [--no-mesh]
[--ready-timeout S] [--lock-fd FD]`. It runs a `LocalStack` until SIGTERM
(what `harness stack down` sends) or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from harness.diagnostics import ConfigError
from harness.localstack.stack import DEFAULT_ISTIO_DIR, StackError, StackOptions, run_until_signalled
from harness.localstack.topology import DEFAULT_TOPOLOGY


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.localstack.orchestrator")
    parser.add_argument("--name", default="default")
    parser.add_argument("--topology", type=Path, default=DEFAULT_TOPOLOGY)
    parser.add_argument("--istio", type=Path, action="append")
    parser.add_argument("--no-prometheus", action="store_true")
    parser.add_argument("--no-mesh", action="store_true")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument("--lock-fd", type=int, help="the stack name's lock, taken by the parent")
    a = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    opts = StackOptions(name=a.name, topology=a.topology, istio=a.istio or [DEFAULT_ISTIO_DIR],
                        prometheus=not a.no_prometheus, mesh=not a.no_mesh, ready_timeout=a.ready_timeout)
    try:
        asyncio.run(run_until_signalled(opts, lock_fd=a.lock_fd))
    except ConfigError as exc:
        print(exc, file=sys.stderr)  # already "error: <file>: ..." per line
        return 2
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
