"""The rerun command in every report row runs the same certification again:
the target and everything that reaches it (gateway, Prometheus, context,
transport settings), with no secret in it, quoted for a shell."""

from __future__ import annotations

import shlex
from pathlib import Path

from harness.certify.session import CertifyOptions, rerun_base
from harness.outbound import OutboundSettings


def test_a_kube_run_reruns_against_the_same_gateway_with_the_same_transport() -> None:
    opts = CertifyOptions(target="kube", gateway="https://gw.example", prometheus="http://prom:9090",
                          kube_context="prod-east", namespace="serving", istio=[Path("my istio")])
    settings = OutboundSettings(ca_bundle="/etc/ca.pem", client_cert="c.pem", client_key="k.pem",
                                api_key_env="GW_KEY", headers=(("x-tenant", "blue"), ("X-Api-Key", "sk-live-123")))
    cmd = rerun_base(opts, settings)
    assert cmd == ["harness", "certify", "--target", "kube", "--istio", "my istio", "--gateway", "https://gw.example",
                   "--prometheus", "http://prom:9090", "--kube-context", "prod-east", "--namespace", "serving",
                   "--ca-bundle", "/etc/ca.pem", "--client-cert", "c.pem", "--client-key", "k.pem",
                   "--api-key-env", "GW_KEY", "--header", "x-tenant:blue", "--header", "X-Api-Key:[redacted]"]
    assert "sk-live-123" not in shlex.join(cmd)
    assert shlex.split(shlex.join(cmd)) == cmd


def test_a_local_run_with_defaults_stays_short() -> None:
    assert rerun_base(CertifyOptions(), OutboundSettings()) == ["harness", "certify", "--target", "local"]
    assert rerun_base(CertifyOptions(), OutboundSettings(insecure=True))[-1] == "--insecure"
