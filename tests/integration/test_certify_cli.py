"""Bad input to `harness certify`: one clear line, exit 2, before anything
starts (no stack is created under the state dir)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def certify(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HARNESS_STATE_DIR": str(tmp_path / "state")}
    return subprocess.run([sys.executable, "-m", "harness", "certify", "--reports", str(tmp_path / "reports"),
                           *args], capture_output=True, text=True, env=env, timeout=60)


def assert_refused(result: subprocess.CompletedProcess[str], tmp_path: Path, *expected: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in lines[0]
    assert not (tmp_path / "state").exists() and not (tmp_path / "reports").exists()


def test_unknown_requirement_id(tmp_path: Path) -> None:
    assert_refused(certify(tmp_path, "--requirement", "routing.canary-splt"), tmp_path,
                   "unknown requirement id 'routing.canary-splt'", "harness certify --list")


@pytest.mark.parametrize("body,expected", [
    ("objectives:\n  - name: chat\n    ttftP95: 800\n", "ttftP95"),
    ("objectives:\n  - name: chat\n    availability: 99\n", "availability"),
    ("objectives: [\n", "invalid YAML"),
])
def test_malformed_or_wrong_unit_slo(tmp_path: Path, body: str, expected: str) -> None:
    slo = tmp_path / "slo.yaml"
    slo.write_text("apiVersion: harness.llm-mesh.dev/v1\nkind: ServiceLevelObjectives\nmetadata: {name: x}\n" + body)
    assert_refused(certify(tmp_path, "--slo", str(slo)), tmp_path, str(slo), expected)


def test_istio_dir_that_does_not_validate(tmp_path: Path) -> None:
    istio = tmp_path / "istio"
    istio.mkdir()
    (istio / "vs.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: llm-chat, namespace: llm}\n"
        "spec:\n  hosts: [llm-chat]\n  http:\n    - route:\n        - destination: {host: llm-chat}\n"
        "          wieght: 100\n")
    assert_refused(certify(tmp_path, "--istio", str(istio)), tmp_path, "vs.yaml", "wieght")


def test_kube_without_gateway_and_bad_numbers(tmp_path: Path) -> None:
    assert_refused(certify(tmp_path, "--target", "kube"), tmp_path, "--gateway")
    assert_refused(certify(tmp_path, "--duration-scale", "0"), tmp_path, "--duration-scale")
    assert_refused(certify(tmp_path, "--profile", "nightly"), tmp_path, "unknown profile 'nightly'")


def test_kube_gateway_unreachable_or_bad_tls_files(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gateway = f"https://127.0.0.1:{port}"
    assert_refused(certify(tmp_path, "--target", "kube", "--gateway", gateway), tmp_path,
                   "--gateway", "cannot connect")
    assert_refused(certify(tmp_path, "--target", "kube", "--gateway", gateway, "--ca-bundle",
                           str(tmp_path / "missing.pem")), tmp_path, "--ca-bundle", "missing.pem")


def test_list_names_every_requirement_and_its_broken_mesh(tmp_path: Path) -> None:
    result = certify(tmp_path, "--list")
    assert result.returncode == 0, result.stderr
    assert "routing.canary-split" in result.stdout and "50/50" in result.stdout


def test_a_broken_istio_copy_fails_with_exit_1_and_full_reports(tmp_path: Path) -> None:
    """The embedded stack started by certify itself, on a copy of the reference
    policy whose canary is 50/50: exit 1, and every report names the failure."""
    import json
    import shutil
    import xml.etree.ElementTree as ET

    import yaml

    istio = tmp_path / "istio"
    shutil.copytree(Path(__file__).parents[2] / "reference-stack" / "istio", istio)
    vs_file = istio / "llm-chat-virtualservice.yaml"
    vs = yaml.safe_load(vs_file.read_text())
    for dest in vs["spec"]["http"][-1]["route"]:
        dest["weight"] = 50
    vs_file.write_text(yaml.safe_dump(vs))
    result = certify(tmp_path, "--istio", str(istio), "--requirement", "routing.canary-split",
                     "--requirement", "routing.header-user-tier")
    assert result.returncode == 1, result.stdout + result.stderr
    [run_dir] = (tmp_path / "reports").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    verdicts = {r["id"]: r["verdict"] for r in summary["requirements"]}
    assert verdicts == {"routing.canary-split": "fail", "routing.header-user-tier": "pass"}
    canary = next(r for r in summary["requirements"] if r["id"] == "routing.canary-split")
    assert "--istio" in canary["rerun"] and canary["rerun"].endswith("--requirement routing.canary-split")
    assert summary["features"]["traffic-splitting"]["result"] == "failure"
    assert summary["features"]["content-routing"]["result"] == "success"
    assert any(e.endswith("records.csv") for e in canary["evidence"])
    assert ET.parse(run_dir / "junit.xml").getroot().find("testsuite").get("failures") == "1"  # type: ignore[union-attr]
    assert len(list((run_dir / "allure-results").glob("*-result.json"))) == 2
    assert "fail" in result.stdout and "routing.canary-split" in result.stdout
    import psutil

    left = [p.pid for p in psutil.process_iter(["cmdline"]) if str(istio) in " ".join(p.info["cmdline"] or [])]
    assert not left, f"processes of the certify stack still running: {left}"
