"""The outbound HTTP options of every locustfile using `harness.load`
(`--ca-bundle`, `--insecure`, `--client-cert`, `--client-key`,
`--api-key-env`, `--header`), and the report of user classes that fail.

Options given to Locust become the `HARNESS_*` variables that
`harness.outbound` reads, so `harness load` (which sets the variables) and a
plain `locust -f profile.py --ca-bundle ca.pem` configure the users alike.
A setting that cannot work (a CA bundle that does not parse, a key that does
not match its certificate) ends the process before any user starts: one line,
exit 2.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from locust import events

from harness.heap import settle_heap
from harness.outbound import (
    ENV_API_KEY_ENV,
    ENV_CA_BUNDLE,
    ENV_CLIENT_CERT,
    ENV_CLIENT_KEY,
    ENV_HEADERS,
    ENV_INSECURE,
    OutboundError,
    OutboundSettings,
    parse_header,
    proxy_for,
    redact,
    ssl_context,
)

__all__ = ["USER_ERROR_PREFIX"]

USER_ERROR_PREFIX = "user error:"
_first_errors: dict[str, str] = {}  # user class -> its first exception, shown once at the end


def _options(parser: Any, **_: Any) -> None:
    group = parser.add_argument_group("harness outbound HTTP (also read from HARNESS_* variables)")
    group.add_argument("--ca-bundle", default="", help="PEM file of the CA(s) that issued the gateway's certificate")
    group.add_argument("--insecure", action="store_true", default=False,
                       help="do not verify the gateway's certificate (stated in the output and in every record)")
    group.add_argument("--client-cert", default="", help="PEM client certificate for mTLS gateways")
    group.add_argument("--client-key", default="", help="its private key (if not in the certificate file)")
    group.add_argument("--api-key-env", default="",
                       help="environment variable holding the bearer token (default OPENAI_API_KEY)")
    group.add_argument("--header", action="append", default=[], metavar="NAME:VALUE",
                       help="extra header for every request (repeatable)")


def _export(options: Any) -> None:
    """Options given on the command line override the inherited variables."""
    given = {ENV_CA_BUNDLE: getattr(options, "ca_bundle", ""), ENV_CLIENT_CERT: getattr(options, "client_cert", ""),
             ENV_CLIENT_KEY: getattr(options, "client_key", ""), ENV_API_KEY_ENV: getattr(options, "api_key_env", ""),
             ENV_INSECURE: "1" if getattr(options, "insecure", False) else "",
             ENV_HEADERS: "\n".join(getattr(options, "header", None) or [])}
    for name, value in given.items():
        if value:
            os.environ[name] = value


def _init(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is not None:
        _export(options)
    try:
        for h in (getattr(options, "header", None) or []):
            parse_header(h)
        settings = OutboundSettings.from_env()
        ssl_context(settings)
        if environment.host:
            proxy_for(environment.host)
    except OutboundError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    for line in settings.describe():
        print(line, flush=True)


def _on_user_error(user_instance: Any, exception: BaseException, **_: Any) -> None:
    user = getattr(user_instance, "user", user_instance)  # a TaskSet's errors name its user
    name = type(user).__name__
    if name not in _first_errors:
        settings = getattr(user, "outbound", None) or OutboundSettings()
        _first_errors[name] = redact(f"{type(exception).__name__}: {exception}", settings)


def _on_quitting(environment: Any, **_: Any) -> None:
    for name, message in _first_errors.items():
        print(f"{USER_ERROR_PREFIX} {name}: {message}", flush=True)
    if _first_errors and not environment.process_exit_code:
        environment.process_exit_code = 1


def _on_test_start(**_: Any) -> None:
    settle_heap()  # the start-up heap out of the collector's walks: a full-GC pause would read as TTFT


# plain calls, not decorators: Locust's hooks are untyped
events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_init)  # type: ignore[no-untyped-call]
events.user_error.add_listener(_on_user_error)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_on_quitting)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_on_test_start)  # type: ignore[no-untyped-call]
