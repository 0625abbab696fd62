"""The outbound HTTP options of the commands that reach a gateway
(`harness load`, `load ui`, `certify`, `chaos run`: `--ca-bundle`,
`--insecure`, `--client-cert`, `--client-key`, `--api-key-env`, `--header`),
and the check of the gateway with them before anything starts."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from harness.diagnostics import ConfigError, Diagnostic
from harness.load.cliparams import options_as_one_value
from harness.outbound import OutboundError, OutboundSettings, check_base_url, parse_header, ssl_context

__all__ = ["with_outbound_options", "apply_settings", "prepare_target"]

_OPTIONS: list[tuple[str, Any, Any]] = [
    ("ca_bundle", Path | None, typer.Option(None, "--ca-bundle", help="PEM file of the CA(s) that issued the "
                                            "gateway's certificate (instead of the system CAs)")),
    ("insecure", bool, typer.Option(False, "--insecure", help="do not verify the gateway's certificate (stated in "
                                    "the output and in every record)")),
    ("client_cert", Path | None, typer.Option(None, "--client-cert", help="PEM client certificate for mTLS gateways")),
    ("client_key", Path | None, typer.Option(None, "--client-key", help="its private key (if not in the certificate "
                                             "file)")),
    ("api_key_env", str | None, typer.Option(None, "--api-key-env", help="variable holding the bearer token "
                                             "(default OPENAI_API_KEY)")),
    ("header", list[str] | None, typer.Option(None, "--header", help="extra header NAME:VALUE for every request "
                                              "(repeatable)")),
]


def _config_error(exc: OutboundError) -> ConfigError:
    return ConfigError(Diagnostic("error", exc.option, exc.message, fix=exc.fix))


def outbound_settings(ca_bundle: Path | None = None, insecure: bool = False, client_cert: Path | None = None,
                      client_key: Path | None = None, api_key_env: str | None = None,
                      header: list[str] | None = None) -> OutboundSettings:
    """The inherited HARNESS_* settings with the options given on top."""
    try:
        given: dict[str, Any] = {}
        if insecure:
            given["insecure"] = True
        if ca_bundle is not None:
            given["ca_bundle"] = str(ca_bundle)
        if client_cert is not None:
            given["client_cert"] = str(client_cert)
        if client_key is not None:
            given["client_key"] = str(client_key)
        if api_key_env:
            given["api_key_env"] = api_key_env
        if header:
            given["headers"] = tuple(parse_header(h) for h in header)
        return replace(OutboundSettings.from_env(), **given)
    except OutboundError as exc:
        raise _config_error(exc) from None


# The outbound options, handed to a command as `outbound: OutboundSettings`.
with_outbound_options = options_as_one_value("outbound", _OPTIONS, outbound_settings)


def apply_settings(settings: OutboundSettings, out: Console) -> None:
    """Check the settings' files (CA bundle, client certificate and key), print
    what is in force, and hand the settings to the processes the command
    starts (Locust, Chaos Toolkit) through the environment."""
    try:
        ssl_context(settings)
    except OutboundError as exc:
        raise _config_error(exc) from None
    for line in settings.describe():
        out.print(line)
    os.environ.update(settings.to_env())


def prepare_target(host: str, settings: OutboundSettings, out: Console, url_option: str = "--host") -> str:
    """`apply_settings`, and the URL and the TLS/proxy settings checked against
    the gateway before any load starts (one GET /v1/models). `url_option` is
    the command's flag for the URL, named in errors about it."""
    from harness.preflight import preflight

    try:
        url = check_base_url(host)
        apply_settings(settings, out)
        preflight(url, settings)
    except OutboundError as exc:
        if exc.option == "--host":
            exc.option = url_option
        raise _config_error(exc) from None
    return url
