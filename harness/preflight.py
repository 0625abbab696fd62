"""One request to the gateway before any load starts, so that a private CA
that is not trusted, a certificate issued for another name, a server that
wants a client certificate, or a proxy that is not there is one clear error
line instead of thousands of failed requests."""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import httpx

from harness.outbound import OutboundError, OutboundSettings, ProxyAddress, httpx_options, proxy_for

__all__ = ["preflight"]

_CA_FIX = "pass --ca-bundle FILE with the CA that issued the gateway's certificate (or --insecure, not for production)"


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    return chain


def _explain(exc: Exception, url: str, settings: OutboundSettings, proxy: ProxyAddress | None) -> OutboundError:
    chain = _causes(exc)
    text = " ".join(str(e) for e in chain)
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            if e.verify_code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
                return OutboundError(f"{url}: the server's certificate is not valid for this host name "
                                     f"({e.verify_message})", "--host",
                                     "use the host name the certificate was issued for (or --insecure)")
            return OutboundError(f"{url}: certificate verify failed: {e.verify_message}",
                                 "--ca-bundle" if settings.ca_bundle else "--host", _CA_FIX)
    if "CERTIFICATE_REQUIRED" in text or "certificate required" in text:
        return OutboundError(f"{url}: the server requires a client certificate", "--client-cert",
                             "pass --client-cert FILE and --client-key FILE")
    if url.startswith("https") and not settings.client_cert and isinstance(exc, httpx.RemoteProtocolError):
        # a TLS 1.3 server checks the client's certificate after the handshake and
        # may hang up without an alert: the likeliest cause of silence over https
        return OutboundError(f"{url}: the server closed the connection without answering; it probably requires a "
                             "client certificate", "--client-cert", "pass --client-cert FILE and --client-key FILE")
    if any(isinstance(e, ssl.SSLError) for e in chain):
        hint = " (the server may want a client certificate)" if not settings.client_cert else ""
        return OutboundError(f"{url}: TLS handshake failed{hint}: {chain[-1]}", "--host",
                             "check the URL's scheme and port, and the TLS options")
    if proxy is not None and (isinstance(exc, httpx.ProxyError) or "proxy" in text.lower() or
                              isinstance(exc, httpx.ConnectError)):
        scheme = "HTTPS_PROXY" if url.startswith("https") else "HTTP_PROXY"
        if "407" in str(chain[-1]):
            fix = (f"give the proxy's credentials in {scheme} as http://USER:PASSWORD@host:port "
                   "(percent-encode '@' and ':' in them)" if proxy.user is None else
                   f"the proxy refused the user and password in {scheme}: correct them")
            return OutboundError(f"the proxy {proxy.url} wants authentication to reach {url} "
                                 f"(407 Proxy Authentication Required)", scheme, fix)
        return OutboundError(f"cannot reach {url} through the proxy {proxy.url}: {chain[-1]}", scheme,
                             "check the proxy address in the environment, or list the host in NO_PROXY")
    if isinstance(exc, httpx.TimeoutException):
        return OutboundError(f"{url}: no answer within the preflight timeout", "--host",
                             "check the address and that the gateway is up")
    return OutboundError(f"cannot connect to {url}: {chain[-1]}", "--host",
                         "check the address and that the gateway is up")


def preflight(url: str, settings: OutboundSettings, timeout: float = 10.0,
              env: Mapping[str, str] | None = None) -> int:
    """GET `url`/v1/models with the run's settings; the status (any HTTP
    answer passes: the transport is what is checked), or OutboundError."""
    proxy = proxy_for(url, env)
    options = httpx_options(settings, url, env)
    try:
        with httpx.Client(timeout=timeout, **options) as client:
            r = client.get(f"{url.rstrip('/')}/v1/models", headers=settings.gateway_headers(env))
            return r.status_code
    except httpx.HTTPError as exc:
        raise _explain(exc, url, settings, proxy) from None
