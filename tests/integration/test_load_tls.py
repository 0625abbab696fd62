"""LLM users against real gateways' transport: https with a private CA made
here (trustme), refusal without it, client certificates (mTLS), a bearer
token the server checks, extra headers, proxies, and every bad-input case
ending before the load starts with one clear line. The token planted in the
environment must not appear in any output."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from harness.localstack.testing import serve_in_thread

pytestmark = pytest.mark.integration
USERS = Path(__file__).parent / "fixtures" / "load" / "gateway_users.py"
TOKEN = "sk-planted-4f1c9e7d2b"  # must never be written anywhere


@dataclass
class Seen:
    auth: list[str | None] = field(default_factory=list)
    tenant: list[str | None] = field(default_factory=list)


def gateway_app(seen: Seen) -> web.Application:
    """An OpenAI-style gateway that wants `Authorization: Bearer TOKEN`."""

    async def chat(request: web.Request) -> web.StreamResponse:
        await request.read()
        seen.auth.append(request.headers.get("Authorization"))
        seen.tenant.append(request.headers.get("x-tenant"))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            # as careless gateways do: the rejected credential echoed in the error
            message = f"invalid api key {request.headers.get('Authorization')}"
            return web.json_response({"error": {"message": message, "code": 401}}, status=401)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for word in ("a", "b", "c", "d"):
            chunk = {"object": "chat.completion.chunk", "model": "llama-3-8b",
                     "choices": [{"index": 0, "delta": {"content": f" {word}"}, "finish_reason": None}]}
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            await asyncio.sleep(0.005)
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": []})

    async def prometheus_query(request: web.Request) -> web.Response:
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"job": "gw"}, "value": [0, "1"]}]}})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    async def prometheus_range(request: web.Request) -> web.Response:
        return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"job": "gw"}, "values": [[0, "1"], [1, "2"]]}]}})

    app.router.add_get("/api/v1/query", prometheus_query)  # as a Prometheus behind the same private CA
    app.router.add_get("/api/v1/query_range", prometheus_range)
    return app


@dataclass
class PKI:
    dir: Path
    ca: trustme.CA

    def write(self, name: str, blob: Any) -> str:
        path = self.dir / name
        blob.write_to_path(str(path))
        return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"), trustme.CA())


@contextmanager
def gateway(pki: PKI, names: tuple[str, ...] = ("127.0.0.1", "localhost"),
            client_ca: bool = False) -> Iterator[tuple[str, Seen]]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pki.ca.issue_cert(*names).configure_cert(ctx)
    if client_ca:
        pki.ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    seen = Seen()
    with serve_in_thread(gateway_app(seen), ssl_context=ctx) as url:
        yield url, seen


@pytest.fixture(scope="module")
def ca_file(pki: PKI) -> str:
    return pki.write("ca.pem", pki.ca.cert_pem)


def harness_load(url: str, *args: str, out: Path | None = None, env: dict[str, str] | None = None,
                 user: str = "GatewayChat") -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "harness", "load", "--profile", str(USERS), "--headless", "--duration", "2s",
           "--users", "2", "--spawn-rate", "2", "--host", url, *args]
    if out is not None:
        cmd += ["--csv", str(out)]
    inherited = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    # the users file holds two classes: the run takes the one asked for
    full_env = {**inherited, "OPENAI_API_KEY": TOKEN, "HARNESS_TEST_USER": user, **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=full_env)


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines() if line]


def assert_token_nowhere(p: subprocess.CompletedProcess[str], out: Path | None) -> None:
    assert TOKEN not in p.stdout and TOKEN not in p.stderr
    if out is not None:
        files = [f for f in out.rglob("*") if f.is_file()]
        assert files
        for f in files:
            assert TOKEN not in f.read_text(errors="replace"), f


def one_error_line(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 2, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


def test_streams_through_a_private_ca_with_token_and_headers(pki: PKI, ca_file: str, tmp_path: Path) -> None:
    with gateway(pki) as (url, seen):
        p = harness_load(url, "--ca-bundle", ca_file, "--header", "x-tenant:blue", out=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    recs = records(tmp_path)
    assert len(recs) >= 2 and all(r["ok"] for r in recs)  # Locust starts slowly on a loaded machine
    assert {r["tls"] for r in recs} == {"verified"}
    assert all(r["output_tokens"] == 4 and len(r["itl_s"]) == 3 for r in recs)
    assert set(seen.auth) == {f"Bearer {TOKEN}"} and set(seen.tenant) == {"blue"}
    assert "Bearer from $OPENAI_API_KEY" in p.stdout
    assert_token_nowhere(p, tmp_path)


def test_private_ca_not_trusted_is_refused_before_the_load(pki: PKI) -> None:
    with gateway(pki) as (url, seen):
        p = harness_load(url)
    line = one_error_line(p)
    assert "certificate verify failed" in line and "--ca-bundle" in line
    assert seen.auth == []  # no load was sent
    assert_token_nowhere(p, None)


def test_certificate_for_another_name_is_refused(pki: PKI, ca_file: str) -> None:
    with gateway(pki, names=("gateway.example",)) as (url, _):
        p = harness_load(url, "--ca-bundle", ca_file)
    line = one_error_line(p)
    assert "not valid for this host name" in line and "--host" in line


def test_insecure_is_loud_in_output_and_records(pki: PKI, tmp_path: Path) -> None:
    with gateway(pki) as (url, _):
        p = harness_load(url, "--insecure", out=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "TLS certificate verification is OFF" in p.stdout
    recs = records(tmp_path)
    assert recs and {r["tls"] for r in recs} == {"unverified"}


def test_mtls_gateway_needs_the_client_certificate(pki: PKI, ca_file: str, tmp_path: Path) -> None:
    client = pki.ca.issue_cert("load@example")
    cert = pki.write("client.pem", client.cert_chain_pems[0])
    key = pki.write("client.key", client.private_key_pem)
    with gateway(pki, client_ca=True) as (url, seen):
        refused = harness_load(url, "--ca-bundle", ca_file)
        p = harness_load(url, "--ca-bundle", ca_file, "--client-cert", cert, "--client-key", key, out=tmp_path)
    line = one_error_line(refused)
    assert "client certificate" in line and "--client-cert" in line
    assert p.returncode == 0, p.stdout + p.stderr
    assert records(tmp_path) and all(r["ok"] for r in records(tmp_path))


def test_wrong_token_fails_the_requests_with_the_servers_message(pki: PKI, ca_file: str, tmp_path: Path) -> None:
    with gateway(pki) as (url, _):
        p = harness_load(url, "--ca-bundle", ca_file, "--api-key-env", "GW_KEY", out=tmp_path,
                         env={"GW_KEY": "sk-wrong-key-123"})
    recs = records(tmp_path)
    assert p.returncode != 0 and recs and {r["status"] for r in recs} == {401}
    assert "invalid api key Bearer [redacted]" in recs[0]["error"]
    assert_token_nowhere(p, tmp_path)
    assert "sk-wrong-key-123" not in p.stdout + p.stderr
    assert not any("sk-wrong-key-123" in f.read_text() for f in tmp_path.rglob("*") if f.is_file())


def test_bad_files_are_one_clear_line(pki: PKI, ca_file: str, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    client = pki.ca.issue_cert("load@example")
    cert = pki.write("c2.pem", client.cert_chain_pems[0])
    other_key = pki.write("other.key", pki.ca.issue_cert("other@example").private_key_pem)
    with gateway(pki) as (url, seen):
        bad_ca = harness_load(url, "--ca-bundle", str(garbage))
        mismatch = harness_load(url, "--ca-bundle", ca_file, "--client-cert", cert, "--client-key", other_key)
        bad_url = harness_load("ftp://127.0.0.1:21")
        bad_header = harness_load(url, "--ca-bundle", ca_file, "--header", "no-colon")
    assert "--ca-bundle" in one_error_line(bad_ca) and "garbage.pem" in bad_ca.stderr
    assert "is not the key of" in one_error_line(mismatch)
    assert "http:// or https://" in one_error_line(bad_url)
    assert "--header" in one_error_line(bad_header)
    assert seen.auth == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_proxy_is_one_clear_error(pki: PKI, ca_file: str) -> None:
    proxy = f"http://127.0.0.1:{_closed_port()}"
    with gateway(pki) as (url, seen):
        p = harness_load(url, "--ca-bundle", ca_file, env={"HTTPS_PROXY": proxy, "NO_PROXY": ""})
    line = one_error_line(p)
    assert "proxy" in line and proxy in line and "HTTPS_PROXY" in line
    assert seen.auth == []


def test_a_user_class_failing_at_start_is_reported(pki: PKI, ca_file: str) -> None:
    with gateway(pki) as (url, _):
        p = harness_load(url, "--ca-bundle", ca_file, user="BrokenStart")
    assert p.returncode not in (0, 2), p.stdout + p.stderr
    assert "user error: BrokenStart: RuntimeError: tokenizer missing for this profile" in p.stdout


def test_chaos_probe_uses_the_same_tls_token_and_headers(pki: PKI, ca_file: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.chaos.probes import gateway_success_ratio

    for k in [k for k in os.environ if k.lower().endswith("_proxy")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("OPENAI_API_KEY", TOKEN)
    monkeypatch.setenv("HARNESS_HEADERS", "x-tenant: green")
    with gateway(pki) as (url, seen):
        config = {"harness_gateway_url": url}
        untrusted = gateway_success_ratio(requests=2, configuration=config)
        monkeypatch.setenv("HARNESS_CA_BUNDLE", ca_file)
        trusted = gateway_success_ratio(requests=2, configuration=config)
    assert (untrusted, trusted) == (0.0, 1.0)
    assert seen.auth == [f"Bearer {TOKEN}"] * 2 and seen.tenant == ["green"] * 2


def test_chaos_run_checks_the_gateway_with_the_same_options_before_any_fault(pki: PKI, ca_file: str,
                                                                           tmp_path: Path) -> None:
    """`harness chaos run` takes the load's outbound options: a gateway its
    probes cannot trust is one error line before any fault (it would read as
    a mesh that lost its requests); with the CA given, the TLS check passes
    and the run goes on to its target (here: no kubeconfig, its own error)."""
    experiment = Path(__file__).parents[2] / "experiments" / "abort.yaml"
    env = {**{k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")},
           "KUBECONFIG": str(tmp_path / "none"), "OPENAI_API_KEY": TOKEN}

    def chaos_run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "harness", "chaos", "run", str(experiment), "--target", "kube", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                              env={**env, "HARNESS_GATEWAY_URL": url})

    with gateway(pki) as (url, seen):
        untrusted = chaos_run(url)
        trusted = chaos_run(url, "--ca-bundle", ca_file)
    line = one_error_line(untrusted)
    assert "HARNESS_GATEWAY_URL" in line and "certificate verify failed" in line and "--ca-bundle" in line
    assert trusted.returncode == 2 and "certificate" not in trusted.stderr, trusted.stderr
    assert "Kubernetes configuration" in trusted.stderr
    assert seen.auth == [], "no probe request before the run's own checks"
    assert_token_nowhere(untrusted, None)
    assert_token_nowhere(trusted, None)


def test_pytest_suites_take_the_same_options_and_check_the_gateway_first(pki: PKI, ca_file: str,
                                                                        tmp_path: Path) -> None:
    """`pytest tests/conformance --target kube --gateway https://...` (the
    nightly suite) takes the same transport options: an untrusted gateway is a
    usage error of one line before any test; with the CA the session goes on
    to its cluster (here: no kubeconfig, again one line, no traceback)."""
    suites = Path(__file__).parents[2] / "tests" / "conformance"
    env = {**{k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")},
           "KUBECONFIG": str(tmp_path / "none"), "OPENAI_API_KEY": TOKEN}

    def suite(url: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "pytest", str(suites), "-q", "-p", "no:cacheprovider", "--target", "kube",
               "--gateway", url, "--prometheus", "http://127.0.0.1:9", "--requirement", "routing.canary-split", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)

    with gateway(pki) as (url, seen):
        untrusted = suite(url)
        trusted = suite(url, "--ca-bundle", ca_file)
    assert untrusted.returncode == 4, untrusted.stdout + untrusted.stderr
    assert "--gateway" in untrusted.stderr and "certificate verify failed" in untrusted.stderr
    assert "--ca-bundle" in untrusted.stderr
    assert trusted.returncode == 4, trusted.stdout + trusted.stderr
    assert "certificate verify failed" not in trusted.stdout + trusted.stderr
    assert "no usable Kubernetes configuration" in trusted.stdout + trusted.stderr
    assert "Traceback" not in trusted.stdout + trusted.stderr and "def " not in trusted.stdout
    assert seen.auth == []
    assert_token_nowhere(untrusted, None)
    assert_token_nowhere(trusted, None)


@contextmanager
def connect_proxy(credentials: str | None = None) -> Iterator[tuple[str, list[str]]]:
    """A minimal HTTP CONNECT proxy (as corporate proxies tunnel https); yields
    its URL and the list of `host:port` it tunnelled to. With `credentials`
    (`user:password`) it wants them as Proxy-Authorization: Basic, and answers
    407 otherwise."""
    import base64
    import threading

    wanted = None if credentials is None else "Basic " + base64.b64encode(credentials.encode()).decode()

    tunnels: list[str] = []
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            writer.close()
            return
        fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line)
        given = {k.lower(): v for k, v in fields.items()}.get("proxy-authorization")
        if wanted is not None and given != wanted:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                         b"proxy-authenticate: Basic realm=\"corp\"\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        host, port = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        tunnels.append(target)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def start() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        holder["server"], holder["port"] = server, server.sockets[0].getsockname()[1]
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{holder['port']}", tunnels
    finally:
        async def stop() -> None:
            holder["server"].close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_load_goes_through_the_https_proxy(pki: PKI, ca_file: str, tmp_path: Path) -> None:
    with gateway(pki) as (url, seen), connect_proxy() as (proxy, tunnels):
        p = harness_load(url, "--ca-bundle", ca_file, out=tmp_path, env={"HTTPS_PROXY": proxy, "NO_PROXY": ""})
    assert p.returncode == 0, p.stdout + p.stderr
    recs = records(tmp_path)
    assert recs and all(r["ok"] for r in recs)
    gateway_address = url.removeprefix("https://")
    # the preflight and each Locust user opened their connections through the proxy
    assert tunnels.count(gateway_address) >= 2 and set(tunnels) == {gateway_address}


PROXY_PASSWORD = "pr0xy-planted-7e21"  # must never be written anywhere either


def test_load_authenticates_to_a_proxy_that_wants_credentials(pki: PKI, ca_file: str, tmp_path: Path) -> None:
    # the credentials come in HTTPS_PROXY, percent-encoded as curl takes them
    # ("@" in a password is %40); Locust's logfile and HTML report are outputs too
    creds = f"corp-user:{PROXY_PASSWORD}@x"
    logfile, html = tmp_path / "stock" / "locust.log", tmp_path / "stock" / "report.html"
    logfile.parent.mkdir()
    (tmp_path / "out").mkdir()
    with gateway(pki) as (url, seen), connect_proxy(creds) as (proxy, tunnels):
        authed = proxy.replace("://", f"://corp-user:{PROXY_PASSWORD}%40x@", 1)
        env = {"HTTPS_PROXY": authed, "NO_PROXY": ""}
        p = harness_load(url, "--ca-bundle", ca_file, out=tmp_path / "out", env=env)
        # stock Locust on the same users file, with its own log file and HTML report
        inherited = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        stock = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(USERS), "GatewayChat", "--headless", "-t", "2s", "-u", "2",
             "-r", "2", "--host", url, "--ca-bundle", ca_file, "--logfile", str(logfile), "--html", str(html),
             "--csv", str(tmp_path / "stock" / "run"), "--loglevel", "DEBUG"],
            capture_output=True, text=True, timeout=90,
            env={**inherited, "OPENAI_API_KEY": TOKEN, "HARNESS_TEST_USER": "GatewayChat", **env})
        refused = harness_load(url, "--ca-bundle", ca_file, env={"HTTPS_PROXY": proxy, "NO_PROXY": ""})
    assert p.returncode == 0, p.stdout + p.stderr
    assert stock.returncode == 0, stock.stdout + stock.stderr
    recs = records(tmp_path / "out")
    assert recs and all(r["ok"] for r in recs)
    gateway_address = url.removeprefix("https://")
    assert tunnels.count(gateway_address) >= 2 and set(tunnels) == {gateway_address}
    assert seen.auth and set(seen.auth) == {f"Bearer {TOKEN}"}
    assert logfile.is_file() and html.is_file()
    for f in [f for f in tmp_path.rglob("*") if f.is_file()]:
        text = f.read_text(errors="replace")
        assert TOKEN not in text and PROXY_PASSWORD not in text, f
    for out in (p, stock):
        assert PROXY_PASSWORD not in out.stdout + out.stderr and TOKEN not in out.stdout + out.stderr
    # without the credentials the proxy refuses the tunnel: a clear error, no load
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert "407" in said and "http://USER:PASSWORD@host:port" in said and "Traceback" not in said


def test_prometheus_instant_and_range_queries_use_the_same_tls_settings(pki: PKI, ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.observe.prometheus import PromClient, PromError

    for k in [k for k in os.environ if k.lower().endswith("_proxy")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("OPENAI_API_KEY", TOKEN)
    with gateway(pki) as (url, _):
        with pytest.raises(PromError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            PromClient(url).instant("up")
        with pytest.raises(PromError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            PromClient(url).range("up", 0, 1)
        monkeypatch.setenv("HARNESS_CA_BUNDLE", ca_file)
        assert PromClient(url).instant("up") == [({"job": "gw"}, 1.0)]
        assert PromClient(url).range("up", 0, 1) == [({"job": "gw"}, [(0.0, 1.0), (1.0, 2.0)])]


def test_certify_probes_use_the_same_tls_token_headers_and_proxy(pki: PKI, ca_file: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # `harness certify --gateway https://...` hands its options to the probe
    # sender through the HARNESS_* environment, as `harness load` does
    from harness.certify.traffic import Probe, send

    for k in [k for k in os.environ if k.lower().endswith("_proxy")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("OPENAI_API_KEY", TOKEN)
    monkeypatch.setenv("HARNESS_HEADERS", "x-tenant: green")
    probes = [Probe(stream=True)] * 3
    with gateway(pki) as (url, seen), connect_proxy(f"corp:{PROXY_PASSWORD}") as (proxy, tunnels):
        untrusted = send(url, probes, concurrency=3)
        monkeypatch.setenv("HARNESS_CA_BUNDLE", ca_file)
        trusted = send(url, probes, concurrency=3)
        monkeypatch.setenv("HTTPS_PROXY", proxy.replace("://", f"://corp:{PROXY_PASSWORD}@"))
        proxied = send(url, probes, concurrency=3)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-91c3")
        refused = send(url, probes[:1], concurrency=1)
    assert not untrusted["ok"].any() and untrusted["error"].str.contains("certificate", case=False).all()
    assert trusted["ok"].all() and proxied["ok"].all(), (trusted["error"].tolist(), proxied["error"].tolist())
    assert (trusted["tls"] == "verified").all()
    assert tunnels == [url.removeprefix("https://")] * 4  # every proxied probe tunnelled, with the credentials
    assert seen.auth == [f"Bearer {TOKEN}"] * 6 + ["Bearer sk-wrong-91c3"] and seen.tenant == ["green"] * 7
    # the careless gateway echoes the rejected key: the record keeps the error, not the key
    assert refused["status"].tolist() == [401] and "sk-wrong-91c3" not in str(refused.to_dict("records"))
