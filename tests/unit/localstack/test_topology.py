"""Topology validation: every mistake is one line naming the file, the field and the fix."""

from pathlib import Path

import pytest
import yaml

from harness.diagnostics import ConfigError
from harness.localstack.topology import DEFAULT_TOPOLOGY, load_topology


def write(tmp_path: Path, mutate) -> Path:
    doc = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    mutate(doc)
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_topology(path)
    return [str(d) for d in info.value.diagnostics]


def test_reference_topology_is_valid() -> None:
    topo = load_topology()
    assert {d.region for d in topo.deployments} == {"us-east", "us-west", "eu-west"}
    assert topo.hpas and topo.hpas[0].sync_period == 1.0
    labels = topo.deployments[0].pod_labels(topo.namespace)
    assert labels["topology.kubernetes.io/region"] == labels["region"]


def test_unknown_field(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["deployments"][1].update(replica=3))
    [line] = errors(path)
    assert str(path) in line
    assert "deployments[1].replica" in line and "unknown field 'replica'" in line and "fix:" in line


def test_unknown_engine_field(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["deployments"][0]["engine"].update(maxSeqs=4))
    [line] = errors(path)
    assert "deployments[0].engine.maxSeqs" in line


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["deployments"][0].update(replicas="two"))
    [line] = errors(path)
    assert "deployments[0].replicas" in line and "integer" in line


def test_bad_duration(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["deployments"][0].update(startupDelay="soon"))
    [line] = errors(path)
    assert "deployments[0].startupDelay" in line and "not a duration" in line


def test_duplicate_deployment_name(tmp_path: Path) -> None:
    def dup(d: dict) -> None:
        d["deployments"][2]["name"] = d["deployments"][0]["name"]

    [line] = errors(write(tmp_path, dup))
    assert "duplicate deployment name 'chat-v1-us-east'" in line and "deployments[2].name" in line


def test_hpa_naming_missing_deployment(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["hpas"][0].update(deployment="chat-v9"))
    [line] = errors(path)
    assert "hpas[0].deployment" in line and "'chat-v9', which does not exist" in line and "fix: name one of" in line


def test_hpa_min_above_max(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["hpas"][0].update(minReplicas=9))
    [line] = errors(path)
    assert "hpas[0]" in line and "minReplicas (9) is above maxReplicas (4)" in line


def test_undeclared_region(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["deployments"][0].update(region="ap-south"))
    [line] = errors(path)
    assert "deployments[0].region" in line and "'ap-south' is not declared" in line


def test_service_selecting_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["services"][0].update(selector={"app": "nope"}))
    [line] = errors(path)
    assert "services[0].selector" in line and "selects no deployment" in line


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("apiVersion: x\nregions: [a, b\n")
    [line] = errors(path)
    assert str(path) in line and "line" in line and "invalid YAML" in line


def test_missing_file(tmp_path: Path) -> None:
    [line] = errors(tmp_path / "absent.yaml")
    assert "not found" in line and "--topology" in line


def test_errors_carry_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, lambda d: d["hpas"][0].update(deployment="chat-v9"))
    [line] = errors(path)
    lineno = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "chat-v9" in text)
    assert line.startswith(f"error: {path}:{lineno}: hpas[0].deployment")


def test_istio_version_defaults_to_the_followed_release_and_is_checked(tmp_path: Path) -> None:
    assert load_topology().istio_version == "1.30"
    path = write(tmp_path, lambda d: d.update(istioVersion="1.x"))
    [line] = errors(path)
    assert "istioVersion" in line and "'1.<minor>'" in line
