"""The Kubernetes reference stack: it validates offline, each overlay renders
(with the machine's `kubectl kustomize`) to the objects a region needs, and
the engine-simulator image's build inputs exist. No cluster and no Docker
engine run here: nothing is applied or built."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.validation import validate_path

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "reference-stack" / "kubernetes"
KUBECTL = shutil.which("kubectl")
EXPECTED = {  # deployments per region, as in reference-stack/local/topology.yaml
    "us-east": {"chat-v1", "chat-v1-premium", "chat-v2", "chat-large", "chat-large-fallback", "embed", "chat-shadow"},
    "us-west": {"chat-v1", "chat-v2", "embed"},
    "eu-west": {"chat-v1"},
}


def render(directory: Path) -> list[dict]:
    p = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)  # type: ignore[list-item]
    assert p.returncode == 0, p.stderr
    return [d for d in yaml.safe_load_all(p.stdout) if d]


def test_the_shipped_stack_validates_without_errors() -> None:
    errors = [str(d) for d in validate_path(REPO / "reference-stack").diagnostics if d.severity == "error"]
    assert errors == []


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (Debian's kubernetes-client) is installed by scripts/setup.sh")
@pytest.mark.parametrize("region", sorted(EXPECTED))
def test_each_overlay_renders_the_objects_of_its_region(region: str, tmp_path: Path) -> None:
    objs = render(K8S / "overlays" / region)
    kinds: dict[str, set[str]] = {}
    for o in objs:
        kinds.setdefault(o["kind"], set()).add(o["metadata"]["name"])
    assert kinds["Deployment"] == EXPECTED[region]
    assert "llm" in kinds["Namespace"]
    assert {"llm-chat"} <= kinds["Service"]
    assert "Gateway" in kinds and "PodMonitor" in kinds and "PrometheusRule" in kinds
    assert {"Role", "RoleBinding", "ServiceAccount"} <= set(kinds)
    for o in objs:
        if o["kind"] == "Deployment":
            assert o["spec"]["template"]["metadata"]["labels"]["region"] == region
            container = o["spec"]["template"]["spec"]["containers"][0]
            assert container["image"].startswith("vllm/vllm-openai:v")  # pinned, never latest
            assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    # the HPA scales chat-v1 in us-east only (as in the local topology)
    assert kinds.get("HorizontalPodAutoscaler", set()) == ({"chat-v1"} if region == "us-east" else set())
    # the rendered region validates as a whole (schemas and cross-references)
    (tmp_path / "rendered.yaml").write_text(yaml.safe_dump_all(objs))
    errors = [str(d) for d in validate_path(tmp_path).diagnostics if d.severity == "error"]
    assert errors == []


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (Debian's kubernetes-client) is installed by scripts/setup.sh")
def test_engine_simulator_variant_needs_no_gpu() -> None:
    objs = render(K8S / "engine-simulator")
    deployments = [o for o in objs if o["kind"] == "Deployment"]
    assert deployments
    for d in deployments:
        c = d["spec"]["template"]["spec"]["containers"][0]
        assert c["image"].startswith("llm-mesh-harness/engine-simulator")
        resources = c.get("resources", {})
        assert "nvidia.com/gpu" not in resources.get("limits", {}) and "nvidia.com/gpu" not in resources.get("requests", {})


def test_engine_simulator_dockerfile_build_inputs_exist() -> None:
    dockerfile = (K8S / "engine-simulator" / "Dockerfile").read_text()
    sources = []
    for line in dockerfile.splitlines():
        m = re.match(r"\s*(COPY|ADD)\s+(?!--from)(.+)", line)
        if m:
            parts = [p for p in m.group(2).split() if not p.startswith("--")]
            sources += parts[:-1]
    assert sources, "the Dockerfile copies nothing from the repository"
    for src in sources:
        assert (REPO / src).exists(), f"{src} (build context: the repository root) does not exist"


def test_hpa_metric_is_served_by_the_adapter_rules() -> None:
    texts = "\n".join(p.read_text() for p in K8S.rglob("*.yaml"))
    assert "vllm:num_requests_waiting" in texts
    adapter = next(p for p in K8S.rglob("*.yaml") if "seriesQuery" in p.read_text())
    assert 'vllm:num_requests_waiting' in adapter.read_text()
