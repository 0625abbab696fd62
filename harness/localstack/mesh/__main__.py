"""Run the mesh proxy: `python -m harness.localstack.mesh --fd N --admin-fd M --orchestrator URL
--topology FILE --istio DIR [--istio DIR ...] --gateway-region REGION` (or `--port`/`--admin-port`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import socket
import sys
from pathlib import Path

from aiohttp import web

from harness.diagnostics import ConfigError
from harness.heap import settle_heap
from harness.localstack.mesh.admin import build_admin_app
from harness.localstack.mesh.app import MeshApp
from harness.localstack.topology import load_topology


def _site(runner: web.AppRunner, fd: int | None, port: int | None) -> web.BaseSite:
    if fd is not None:
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        # A deep backlog: a burst of 1,000 new streams must not wait on SYN retries.
        return web.SockSite(runner, sock, backlog=4096)
    return web.TCPSite(runner, "127.0.0.1", port or 0, backlog=4096)


async def serve(args: argparse.Namespace) -> None:
    topology = load_topology(args.topology)
    mesh = MeshApp(topology, [Path(p) for p in args.istio], args.orchestrator,
                   args.gateway_region or topology.gateway_region)
    gateway = web.Application(client_max_size=64 * 1024 * 1024)
    gateway.router.add_route("*", "/{tail:.*}", mesh.proxy.handle)
    gw_runner = web.AppRunner(gateway, handler_cancellation=True, access_log=None, shutdown_timeout=2.0)
    admin_runner = web.AppRunner(build_admin_app(mesh), access_log=None)
    await gw_runner.setup()
    await admin_runner.setup()
    await mesh.start()
    try:
        await _site(gw_runner, args.fd, args.port).start()
        await _site(admin_runner, args.admin_fd, args.admin_port).start()
        settle_heap()
        if args.fd is None:
            print(json.dumps({"gateway": gw_runner.addresses[0][1], "admin": admin_runner.addresses[0][1]}),
                  flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await gw_runner.cleanup()
        await admin_runner.cleanup()
        await mesh.stop()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m harness.localstack.mesh", description=__doc__)
    ap.add_argument("--fd", type=int)
    ap.add_argument("--port", type=int)
    ap.add_argument("--admin-fd", type=int)
    ap.add_argument("--admin-port", type=int)
    ap.add_argument("--orchestrator", required=True)
    ap.add_argument("--topology", required=True)
    ap.add_argument("--istio", action="append", required=True)
    ap.add_argument("--gateway-region")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mesh %(levelname)s %(message)s")
    try:
        import uvloop
        uvloop.run(serve(args))
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
