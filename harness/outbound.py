"""Outbound HTTP for the whole harness, configured in one place: TLS trust
(the system CAs, a private CA bundle, or verification off), a client
certificate for mTLS gateways, proxies from HTTPS_PROXY / HTTP_PROXY /
NO_PROXY, a bearer token read from an environment variable, and extra
headers; with builders for the HTTP clients the harness uses
(geventhttpclient in Locust, httpx, requests).

Settings travel to the processes the CLI starts (Locust, Chaos Toolkit) as
`HARNESS_*` environment variables. The token never does: only the *name* of
the variable that holds it, so it appears in no command line, record or log.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    import requests

__all__ = ["OutboundSettings", "OutboundError", "ProxyAddress", "check_base_url", "parse_header", "proxy_for", "ssl_context",
           "gevent_client_options", "httpx_options", "aiohttp_options", "requests_session", "redact", "is_secret_header",
           "ENV_CA_BUNDLE", "ENV_INSECURE", "ENV_CLIENT_CERT", "ENV_CLIENT_KEY", "ENV_API_KEY_ENV", "ENV_HEADERS",
           "DEFAULT_API_KEY_ENV"]

ENV_CA_BUNDLE = "HARNESS_CA_BUNDLE"
ENV_INSECURE = "HARNESS_INSECURE"
ENV_CLIENT_CERT = "HARNESS_CLIENT_CERT"
ENV_CLIENT_KEY = "HARNESS_CLIENT_KEY"
ENV_API_KEY_ENV = "HARNESS_API_KEY_ENV"
ENV_HEADERS = "HARNESS_HEADERS"  # one "Name: value" per line
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
_TRUE = {"1", "true", "yes", "on"}


class OutboundError(Exception):
    """A setting or a connection the load cannot start with: what is wrong,
    which option it concerns, and how to fix it."""

    def __init__(self, message: str, option: str, fix: str) -> None:
        super().__init__(message)
        self.message, self.option, self.fix = message, option, fix

    def __str__(self) -> str:
        return f"{self.option}: {self.message} (fix: {self.fix})"


def parse_header(text: str) -> tuple[str, str]:
    """`Name: value` (or `Name:value`) -> (name, value)."""
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(c in name for c in " \t\r\n") or any(c in value for c in "\r\n"):
        raise OutboundError(f"{text!r} is not a header", "--header", "write it as Name:value, e.g. x-tenant:blue")
    return name, value.strip()


def check_base_url(url: str) -> str:
    """The base URL to send to (`host:port` means http), without a trailing
    slash; OutboundError for anything but an http(s) URL with a host."""
    full = url if "://" in url else f"http://{url}"
    parts = urlsplit(full)
    if parts.scheme.lower() not in ("http", "https"):
        raise OutboundError(f"{url!r} is not an http:// or https:// URL", "--host",
                            "give the gateway's base URL, e.g. https://llm.example.com")
    if not parts.hostname:
        raise OutboundError(f"{url!r} has no host name", "--host", "give the gateway's base URL, e.g. https://llm.example.com")
    return full.rstrip("/")


@dataclass(frozen=True)
class OutboundSettings:
    ca_bundle: str | None = None  # PEM file of the CAs to trust instead of the system's
    insecure: bool = False  # no certificate verification at all
    client_cert: str | None = None  # PEM certificate (chain) presented to mTLS servers
    client_key: str | None = None  # its private key (None: inside client_cert)
    api_key_env: str = DEFAULT_API_KEY_ENV  # the variable holding the bearer token
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request to the gateway

    def __post_init__(self) -> None:
        if self.client_key and not self.client_cert:
            raise OutboundError("a client key without a certificate", "--client-key",
                                "pass --client-cert with the certificate that goes with it")
        if self.insecure and self.ca_bundle:
            raise OutboundError("--ca-bundle and --insecure contradict each other", "--insecure",
                                "drop --insecure: with the right CA bundle verification works")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OutboundSettings:
        env = os.environ if env is None else env
        headers = tuple(parse_header(line) for line in env.get(ENV_HEADERS, "").splitlines() if line.strip())
        return cls(ca_bundle=env.get(ENV_CA_BUNDLE) or None,
                   insecure=env.get(ENV_INSECURE, "").strip().lower() in _TRUE,
                   client_cert=env.get(ENV_CLIENT_CERT) or None, client_key=env.get(ENV_CLIENT_KEY) or None,
                   api_key_env=env.get(ENV_API_KEY_ENV) or DEFAULT_API_KEY_ENV, headers=headers)

    def to_env(self) -> dict[str, str]:
        """The `HARNESS_*` variables that make `from_env` in a child process equal to self."""
        return {ENV_CA_BUNDLE: self.ca_bundle or "", ENV_INSECURE: "1" if self.insecure else "",
                ENV_CLIENT_CERT: self.client_cert or "", ENV_CLIENT_KEY: self.client_key or "",
                ENV_API_KEY_ENV: self.api_key_env, ENV_HEADERS: "\n".join(f"{k}: {v}" for k, v in self.headers)}

    def cli_flags(self) -> list[str]:
        """The command-line options that give these settings, for a rerun
        command; a credential-like header value is written `[redacted]`."""
        flags: list[str] = []
        for flag, path in (("--ca-bundle", self.ca_bundle), ("--client-cert", self.client_cert),
                           ("--client-key", self.client_key)):
            if path:
                flags += [flag, path]
        if self.insecure:
            flags.append("--insecure")
        if self.api_key_env != DEFAULT_API_KEY_ENV:
            flags += ["--api-key-env", self.api_key_env]
        for name, value in self.headers:
            flags += ["--header", f"{name}:{'[redacted]' if is_secret_header(name) else value}"]
        return flags

    def token(self, env: Mapping[str, str] | None = None) -> str | None:
        env = os.environ if env is None else env
        return env.get(self.api_key_env) or None

    def gateway_headers(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Headers for requests to the LLM gateway: the extra headers, and
        `Authorization: Bearer` when the token variable is set (an explicit
        Authorization header wins). Not for other services: the gateway's
        token is not Prometheus' business."""
        out = dict(self.headers)
        token = self.token(env)
        if token and not any(k.lower() == "authorization" for k in out):
            out["Authorization"] = f"Bearer {token}"
        return out

    def describe(self, env: Mapping[str, str] | None = None) -> list[str]:
        """Lines for the run's output; never a secret's value."""
        lines = []
        if self.insecure:
            lines.append("WARNING: TLS certificate verification is OFF (--insecure): "
                         "the gateway's identity is not checked")
        elif self.ca_bundle:
            lines.append(f"TLS: trusting the CAs in {self.ca_bundle}")
        if self.client_cert:
            lines.append(f"TLS: client certificate {self.client_cert}")
        if self.token(env):
            lines.append(f"auth: Authorization: Bearer from ${self.api_key_env}")
        if self.headers:
            lines.append("headers: " + ", ".join(k for k, _ in self.headers))
        return lines


def is_secret_header(name: str) -> bool:
    """A header whose value is a credential by its name (Authorization, X-Api-Key, ...)."""
    return any(w in name.lower() for w in ("auth", "key", "token", "secret", "cookie", "password"))


def redact(text: str, settings: OutboundSettings, env: Mapping[str, str] | None = None) -> str:
    """`text` with the token (and the values of extra headers that look
    like credentials) replaced, for anything written to a record or log."""
    secrets = [settings.token(env) or ""]
    secrets += [v for k, v in settings.headers if is_secret_header(k)]
    for s in secrets:
        if len(s) >= 4:
            text = text.replace(s, "[redacted]")
    return text


# -- TLS --------------------------------------------------------------------------------------------------------
def ssl_context(settings: OutboundSettings,
                factory: Callable[..., ssl.SSLContext] = ssl.create_default_context) -> ssl.SSLContext:
    """A client context for `settings`; `factory` picks the context class
    (gevent's for geventhttpclient). Problems with the files are raised
    here, as OutboundError, before any connection is made."""
    if settings.ca_bundle and not settings.insecure:
        # the bundle replaces the system CAs, as curl's --cacert and requests' verify=FILE do
        _readable(settings.ca_bundle, "--ca-bundle")
        try:
            ctx = factory(cafile=settings.ca_bundle)
        except (ssl.SSLError, ValueError) as exc:
            raise OutboundError(f"{settings.ca_bundle} holds no PEM CA certificate ({_reason(exc)})", "--ca-bundle",
                                "pass the PEM file of the CA that issued the gateway's certificate") from None
    else:
        ctx = factory()
    if settings.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if settings.client_cert:
        _readable(settings.client_cert, "--client-cert")
        if settings.client_key:
            _readable(settings.client_key, "--client-key")
        try:
            ctx.load_cert_chain(settings.client_cert, settings.client_key)
        except ssl.SSLError as exc:
            if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
                raise OutboundError(f"{settings.client_key} is not the key of {settings.client_cert}", "--client-key",
                                    "pass the private key that belongs to the client certificate") from None
            raise OutboundError(f"cannot load the client certificate {settings.client_cert} / key "
                                f"{settings.client_key or '(in the same file)'} ({_reason(exc)})", "--client-cert",
                                "pass PEM files: the certificate, and its unencrypted private key") from None
    return ctx


def _readable(path: str, option: str) -> None:
    if not os.path.isfile(path):
        raise OutboundError(f"no such file {path}", option, "give the path of an existing PEM file")


def _reason(exc: BaseException) -> str:
    return getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)


# -- proxies ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProxyAddress:
    url: str  # without credentials, safe to print
    host: str
    port: int
    user: str | None = None
    password: str | None = None


def _env_lookup(env: Mapping[str, str], name: str) -> str:
    return env.get(name.lower()) or env.get(name.upper()) or ""


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    """curl's NO_PROXY rules: `*`, exact hosts, domain suffixes (`.corp` or
    `corp`), optional `:port`."""
    host = host.lower().strip("[]")
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, eport = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if eport and eport != str(port):
            continue
        name = name.lstrip(".").strip("[]")
        if host == name or host.endswith("." + name):
            return True
    return False


def proxy_for(url: str, env: Mapping[str, str] | None = None) -> ProxyAddress | None:
    """The proxy the environment asks for to reach `url` (HTTPS_PROXY for
    https, HTTP_PROXY for http, ALL_PROXY for either; none if NO_PROXY
    matches the host)."""
    env = os.environ if env is None else env
    target = urlsplit(url)
    scheme = (target.scheme or "http").lower()
    host = target.hostname or ""
    port = target.port or (443 if scheme == "https" else 80)
    if _bypassed(host, port, _env_lookup(env, "no_proxy")):
        return None
    raw = _env_lookup(env, f"{scheme}_proxy") or _env_lookup(env, "all_proxy")
    if not raw:
        return None
    parts = urlsplit(raw if "://" in raw else f"http://{raw}")
    if parts.scheme != "http" or not parts.hostname:
        raise OutboundError(f"proxy {parts.scheme}://{parts.hostname or ''} is not an http:// proxy",
                            f"{scheme.upper()}_PROXY", "use an http://host:port proxy (CONNECT tunnels https)")
    pport = parts.port or 80
    return ProxyAddress(f"http://{parts.hostname}:{pport}", parts.hostname, pport,
                        unquote(parts.username) if parts.username else None,
                        unquote(parts.password) if parts.password else None)


# -- client builders ------------------------------------------------------------------------------------------
def gevent_client_options(settings: OutboundSettings, url: str,
                          env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for geventhttpclient's HTTPClient / Locust's FastHttpSession."""
    opts: dict[str, Any] = {"insecure": settings.insecure}
    if urlsplit(url).scheme.lower() == "https":
        context = _gevent_context(settings)
        # geventhttpclient passes its default CA file along: the context is already complete
        opts["ssl_context_factory"] = lambda *a, **kw: context
    proxy = proxy_for(url, env)
    if proxy is not None:
        opts.update(proxy_host=proxy.host, proxy_port=proxy.port)
        if proxy.user is not None:
            opts.update(proxy_user=proxy.user, proxy_password=proxy.password or "")
    return opts


@functools.lru_cache(maxsize=8)
def _gevent_context(settings: OutboundSettings) -> ssl.SSLContext:
    """One context per process and settings: every Locust user shares it
    (loading the CA store per user would cost ~10 ms of CPU each)."""
    import gevent.ssl

    return ssl_context(settings, gevent.ssl.create_default_context)


@functools.lru_cache(maxsize=8)
def _shared_context(settings: OutboundSettings) -> ssl.SSLContext:
    return ssl_context(settings)


def httpx_options(settings: OutboundSettings, url: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for `httpx.Client` / `httpx.request` reaching `url`."""
    proxy = proxy_for(url, env)
    proxy_url = None
    if proxy is not None:
        proxy_url = proxy.url
        if proxy.user is not None:
            proxy_url = proxy_url.replace("://", f"://{proxy.user}:{proxy.password or ''}@", 1)
    # proxies decided here, not by httpx's own reading of the environment
    return {"verify": _shared_context(settings), "proxy": proxy_url, "trust_env": False}


def aiohttp_options(settings: OutboundSettings, url: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for an aiohttp request to `url` (`session.post(url, **opts)`):
    the TLS context for https, and the proxy with its credentials (sent on CONNECT)."""
    import aiohttp

    opts: dict[str, Any] = {}
    if urlsplit(url).scheme.lower() == "https":
        opts["ssl"] = _shared_context(settings)
    proxy = proxy_for(url, env)
    if proxy is not None:
        opts["proxy"] = proxy.url
        if proxy.user is not None:
            opts["proxy_headers"] = {"Proxy-Authorization": aiohttp.encode_basic_auth(proxy.user, proxy.password or "")}
    return opts


def requests_session(settings: OutboundSettings, url: str, env: Mapping[str, str] | None = None) -> requests.Session:
    """A `requests.Session` reaching `url` (for prometheus-api-client)."""
    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = False if settings.insecure else (settings.ca_bundle or True)
    if settings.client_cert:
        ssl_context(settings)  # file problems as OutboundError, not as a failure on first use
        session.cert = (settings.client_cert, settings.client_key) if settings.client_key else settings.client_cert
    proxy = proxy_for(url, env)
    if proxy is not None:
        creds = f"{proxy.user}:{proxy.password or ''}@" if proxy.user is not None else ""
        session.proxies = {urlsplit(url).scheme or "http": f"http://{creds}{proxy.host}:{proxy.port}"}
    return session
