"""Run one engine process: `python -m harness.localstack.engine --fd N --pod NAME --params JSON`.

Bad arguments end with one line on stderr and exit code 2, as a pod whose
container arguments are wrong fails to start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import socket
import ssl
import sys

import uvloop
from aiohttp import web
from pydantic import ValidationError

from harness.heap import settle_heap
from harness.localstack.engine.params import EngineParams
from harness.localstack.engine.server import Engine, build_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m harness.localstack.engine", description=__doc__)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--fd", type=int, help="an inherited listening socket")
    where.add_argument("--port", type=int, help="bind this port (0: a free one, printed on stdout)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--pod", default="engine-0")
    ap.add_argument("--params", default="{}", help="EngineParams as JSON (camelCase keys)")
    ap.add_argument("--startup-delay", type=float, default=0.0)
    ap.add_argument("--tls-cert", help="serve https with this PEM certificate (chain)")
    ap.add_argument("--tls-key", help="the certificate's PEM private key")
    return ap.parse_args(argv)


def _server_tls(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A TLS-terminating engine, for clients that must be measured over https."""
    if not cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


async def serve(args: argparse.Namespace, params: EngineParams) -> None:
    engine = Engine(params, args.pod, args.startup_delay)
    app = build_app(engine)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
        sock.setblocking(False)
        site: web.BaseSite = web.SockSite(runner, sock, backlog=4096)
    else:
        site = web.TCPSite(runner, args.host, args.port, backlog=4096, reuse_address=True,
                           ssl_context=_server_tls(args.tls_cert, args.tls_key))
    await site.start()
    settle_heap()
    if args.fd is None:
        port = runner.addresses[0][1]
        print(json.dumps({"pod": args.pod, "port": port}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        params = EngineParams.model_validate(json.loads(args.params))
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()
        sys.stderr.write(f"engine {args.pod}: --params is not valid EngineParams JSON: "
                         f"{' '.join(first[:3])}\n")
        raise SystemExit(2) from None
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.pod} %(levelname)s %(message)s")
    uvloop.run(serve(args, params))


if __name__ == "__main__":
    main()
