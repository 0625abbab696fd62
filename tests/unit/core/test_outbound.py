"""harness.outbound: the one place outbound HTTP is configured (pure parts,
and the TLS context built from real PEM files made by trustme)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from harness.outbound import (
    OutboundError,
    OutboundSettings,
    check_base_url,
    gevent_client_options,
    httpx_options,
    parse_header,
    proxy_for,
    redact,
    requests_session,
    ssl_context,
)


@pytest.mark.parametrize("text,expected", [("x-tenant:blue", ("x-tenant", "blue")),
                                           ("X-Tenant: blue sky ", ("X-Tenant", "blue sky")),
                                           ("a:b:c", ("a", "b:c"))])
def test_parse_header(text: str, expected: tuple[str, str]) -> None:
    assert parse_header(text) == expected


@pytest.mark.parametrize("text", ["no-colon", ":value", "two words:v", "x:a\r\nInjected: 1"])
def test_bad_header_is_one_clear_error(text: str) -> None:
    with pytest.raises(OutboundError) as info:
        parse_header(text)
    assert "--header" in str(info.value) and "Name:value" in str(info.value)


def test_env_round_trip_carries_no_token() -> None:
    s = OutboundSettings(ca_bundle="/ca.pem", client_cert="/c.pem", client_key="/k.pem", api_key_env="GW_KEY",
                         headers=(("x-a", "1"), ("x-b", "2")))
    env = s.to_env()
    assert OutboundSettings.from_env(env) == s
    env["GW_KEY"] = "sk-planted-secret"
    assert "sk-planted-secret" not in repr(s.to_env()) and "sk-planted-secret" not in repr(s)
    assert OutboundSettings.from_env(env).token(env) == "sk-planted-secret"


def test_bearer_from_openai_api_key_and_explicit_authorization_wins() -> None:
    env = {"OPENAI_API_KEY": "sk-1"}
    assert OutboundSettings().gateway_headers(env) == {"Authorization": "Bearer sk-1"}
    s = OutboundSettings(headers=(("authorization", "Basic abc"),))
    assert s.gateway_headers(env) == {"authorization": "Basic abc"}
    assert OutboundSettings(api_key_env="OTHER").gateway_headers(env) == {}


def test_describe_is_loud_about_insecure_and_never_prints_the_token() -> None:
    env = {"OPENAI_API_KEY": "sk-planted"}
    lines = OutboundSettings(insecure=True).describe(env)
    assert any("verification is OFF" in line for line in lines)
    assert not any("sk-planted" in line for line in lines)
    assert any("$OPENAI_API_KEY" in line for line in lines)


def test_redact_removes_token_and_credential_headers() -> None:
    s = OutboundSettings(headers=(("x-api-key", "hdr-secret"), ("x-tenant", "blue")))
    text = "sent Bearer sk-planted and hdr-secret to blue"
    assert redact(text, s, {"OPENAI_API_KEY": "sk-planted"}) == "sent Bearer [redacted] and [redacted] to blue"


def test_contradictions_are_refused() -> None:
    with pytest.raises(OutboundError, match="--insecure"):
        OutboundSettings(ca_bundle="ca.pem", insecure=True)
    with pytest.raises(OutboundError, match="--client-cert"):
        OutboundSettings(client_key="k.pem")


@pytest.mark.parametrize("url,env,expected", [
    ("https://gw.corp:8443", {"HTTPS_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
    ("https://gw.corp", {"https_proxy": "proxy:8080"}, "http://proxy:8080"),
    ("http://gw.corp", {"HTTPS_PROXY": "http://proxy:3128"}, None),
    ("http://gw.corp", {"HTTP_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
    ("https://gw.corp", {"ALL_PROXY": "http://p:1"}, "http://p:1"),
    ("https://gw.corp", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "corp"}, None),
    ("https://gw.corp", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".corp"}, None),
    ("https://gw.corp", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "other.corp,x"}, "http://p:1"),
    ("https://gw.corp:8443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "gw.corp:443"}, "http://p:1"),
    ("https://gw.corp:8443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "gw.corp:8443"}, None),
    ("https://127.0.0.1:8443", {"HTTPS_PROXY": "http://p:1", "no_proxy": "*"}, None),
    ("https://gw.corp", {}, None),
])
def test_proxy_for(url: str, env: dict[str, str], expected: str | None) -> None:
    proxy = proxy_for(url, env)
    assert (proxy.url if proxy else None) == expected


def test_proxy_credentials_are_kept_apart_from_the_printable_url() -> None:
    proxy = proxy_for("https://gw", {"HTTPS_PROXY": "http://me:p%40ss@proxy:3128"})
    assert proxy is not None and proxy.url == "http://proxy:3128"
    assert (proxy.user, proxy.password) == ("me", "p@ss")


def test_a_socks_proxy_is_refused() -> None:
    with pytest.raises(OutboundError, match="HTTPS_PROXY"):
        proxy_for("https://gw", {"HTTPS_PROXY": "socks5://proxy:1080"})


# -- TLS contexts from real files ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    client = ca.issue_cert("client@example")
    other = trustme.CA().issue_cert("other@example")
    files = {"ca": d / "ca.pem", "cert": d / "client.pem", "key": d / "client.key", "other_key": d / "other.key",
             "garbage": d / "garbage.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    client.cert_chain_pems[0].write_to_path(str(files["cert"]))
    client.private_key_pem.write_to_path(str(files["key"]))
    other.private_key_pem.write_to_path(str(files["other_key"]))
    files["garbage"].write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    return files


def test_context_with_ca_bundle_and_client_certificate(pki: dict[str, Path]) -> None:
    ctx = ssl_context(OutboundSettings(ca_bundle=str(pki["ca"]), client_cert=str(pki["cert"]),
                                       client_key=str(pki["key"])))
    assert ctx.check_hostname and ctx.cert_store_stats()["x509_ca"] == 1


def test_insecure_context_verifies_nothing() -> None:
    import ssl
    ctx = ssl_context(OutboundSettings(insecure=True))
    assert not ctx.check_hostname and ctx.verify_mode == ssl.CERT_NONE


def test_unparseable_ca_bundle_is_one_clear_error(pki: dict[str, Path]) -> None:
    with pytest.raises(OutboundError) as info:
        ssl_context(OutboundSettings(ca_bundle=str(pki["garbage"])))
    assert info.value.option == "--ca-bundle" and "garbage.pem" in str(info.value)


def test_missing_ca_bundle_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(OutboundError, match="no such file"):
        ssl_context(OutboundSettings(ca_bundle=str(tmp_path / "nope.pem")))


def test_key_not_matching_certificate_is_one_clear_error(pki: dict[str, Path]) -> None:
    with pytest.raises(OutboundError) as info:
        ssl_context(OutboundSettings(client_cert=str(pki["cert"]), client_key=str(pki["other_key"])))
    assert info.value.option == "--client-key" and "is not the key of" in str(info.value)


def test_builders_share_the_settings(pki: dict[str, Path]) -> None:
    s = OutboundSettings(ca_bundle=str(pki["ca"]), client_cert=str(pki["cert"]), client_key=str(pki["key"]))
    env = {"HTTPS_PROXY": "http://u:pw@proxy:3128"}
    g = gevent_client_options(s, "https://gw:8443", env)
    assert (g["proxy_host"], g["proxy_port"], g["proxy_user"], g["insecure"]) == ("proxy", 3128, "u", False)
    assert g["ssl_context_factory"](cafile="ignored").check_hostname
    h = httpx_options(s, "https://gw:8443", env)
    assert h["proxy"] == "http://u:pw@proxy:3128" and h["trust_env"] is False
    r = requests_session(s, "https://gw:8443", env)
    assert r.verify == str(pki["ca"]) and r.cert == (str(pki["cert"]), str(pki["key"]))
    assert r.proxies == {"https": "http://u:pw@proxy:3128"} and r.trust_env is False


@pytest.mark.parametrize("url,expected", [("https://gw:8443/base/", "https://gw:8443/base"),
                                          ("127.0.0.1:8000", "http://127.0.0.1:8000"),
                                          ("http://[::1]:9000", "http://[::1]:9000")])
def test_check_base_url(url: str, expected: str) -> None:
    assert check_base_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://host/", "http:///path", "wss://gw"])
def test_unsupported_base_url_names_the_option(url: str) -> None:
    with pytest.raises(OutboundError, match="--host"):
        check_base_url(url)
