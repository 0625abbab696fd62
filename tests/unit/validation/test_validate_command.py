"""`harness validate`: exit codes (0 clean, 1 problems, 2 nothing to validate),
`--strict`, and files that do not parse or are malformed, each named with
file, line and fix and never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: chat, namespace: llm}
spec:
  hosts: [chat]
  http:
  - route:
    - destination: {host: chat}
"""
DEPRECATED = VS.replace("networking.istio.io/v1", "networking.istio.io/v1beta1")


def validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_a_clean_directory_exits_0(tmp_path: Path) -> None:
    (tmp_path / "vs.yaml").write_text(VS)
    code, out = validate(str(tmp_path))
    assert code == 0 and f"ok: {tmp_path} (0 warning(s))" in out


def test_warnings_pass_without_strict_and_fail_with_it(tmp_path: Path) -> None:
    (tmp_path / "vs.yaml").write_text(DEPRECATED)
    code, out = validate(str(tmp_path))
    assert code == 0 and "(rule: deprecated-api-version)" in out
    code, out = validate("--strict", str(tmp_path))
    assert code == 1 and "0 error(s), 1 warning(s)" in out and "--strict" in out


def test_an_empty_directory_is_nothing_to_validate_exit_2(tmp_path: Path) -> None:
    code, out = validate(str(tmp_path))
    assert code == 2
    assert "nothing to validate" in out and "ok" not in out


def test_a_directory_of_unrelated_yaml_is_nothing_to_validate(tmp_path: Path) -> None:
    (tmp_path / "ci.yml").write_text("on: push\njobs: {}\n")
    code, out = validate(str(tmp_path))
    assert code == 2 and "nothing to validate" in out


def test_a_missing_path_exits_2(tmp_path: Path) -> None:
    code, out = validate(str(tmp_path / "nowhere"))
    assert code == 2 and "no such file or directory" in out


@pytest.mark.parametrize("name", ["experiment.yaml", "vs.yaml", "experiment.json"])
def test_a_file_that_does_not_parse_is_an_error_with_its_line(tmp_path: Path, name: str) -> None:
    (tmp_path / "good.yaml").write_text(VS)
    (tmp_path / name).write_text('title: t\nmethod:\n  - name: "unclosed\n    type: action\n  - {\n')
    code, out = validate(str(tmp_path))
    assert code == 1
    [line] = [x for x in out.splitlines() if name in x]
    assert line.startswith(f"error: {tmp_path / name}:") and "not valid YAML" in line and "fix:" in line
    assert "1 error(s)" in out


def test_a_malformed_experiment_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text("title: t\ndescription: d\nmethod: kill everything\n")
    code, out = validate(str(tmp_path))
    assert code == 1
    assert f"{tmp_path / 'exp.yaml'}:3" in out and "'method' must be a list of activities" in out


def test_an_experiment_without_a_method_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text("title: t\ndescription: d\nrollbacks: []\n")
    code, out = validate(str(tmp_path))
    assert code == 1 and "requires a method" in out


def test_a_manifest_without_kind_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "svc.yaml").write_text("apiVersion: v1\nmetadata: {name: chat}\nspec: {}\n")
    code, out = validate(str(tmp_path))
    assert code == 1 and "'kind' is missing" in out and "svc.yaml:1" in out


def test_a_topology_is_validated_by_its_own_validator(tmp_path: Path) -> None:
    reference = Path(__file__).resolve().parents[3] / "reference-stack" / "local" / "topology.yaml"
    (tmp_path / "topology.yaml").write_text(reference.read_text().replace("gatewayRegion:", "gatewayRegon:", 1))
    code, out = validate(str(tmp_path))
    assert code == 1 and "topology.yaml" in out and "gatewayRegon" in out
