from pathlib import Path

import pytest

from harness.certify.slo import DEFAULT_SLO, load_slo
from harness.diagnostics import ConfigError
from harness.validation import validate_path


def test_reference_slo_loads_with_units() -> None:
    spec = load_slo(DEFAULT_SLO)
    chat = spec.objective("chat")
    assert chat is not None and chat.availability == 0.99 and chat.ttft_p95 == 1.0
    assert chat.max_time_to_recover == 30.0
    assert spec.objective("chat-large").max_fallback_share == pytest.approx(0.05)  # type: ignore[union-attr]


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "slo.yaml"
    path.write_text("apiVersion: harness.llm-mesh.dev/v1\nkind: ServiceLevelObjectives\nmetadata: {name: t}\n"
                    + body)
    return path


@pytest.mark.parametrize("body,expected", [
    ("objectives:\n  - name: a\n    ttftP95: 800\n", "800 has no unit; write a duration"),
    ("objectives:\n  - name: a\n    availability: 99.5\n", "not a share"),
    ("objectives:\n  - name: a\n    ttftP95: fast\n", "is not a duration"),
    ("objectives:\n  - name: a\n    availabilty: 0.9\n", "unknown field 'availabilty'"),
    ("objectives:\n  - name: a\n  - name: a\n", "objective 'a' is defined twice"),
    ("objectives: []\n", "objectives"),
])
def test_bad_slo_files_name_file_line_and_fix(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_slo(path)
    [d] = info.value.diagnostics
    assert expected in str(d) and str(path) in str(d)
    if "unknown" in expected or "unit" in expected:
        assert d.line == 6


def test_harness_validate_checks_slo_files(tmp_path: Path) -> None:
    write(tmp_path, "objectives:\n  - name: a\n    e2eP95: 5\n")
    [d] = [d for d in validate_path(tmp_path).diagnostics if d.severity == "error"]
    assert "e2eP95" in str(d) and "has no unit" in str(d)
    assert not [d for d in validate_path(DEFAULT_SLO).diagnostics if d.severity == "error"]


def test_promql_window_is_the_checks_own() -> None:
    from harness.certify.slo import promql_for_window

    query = load_slo().objective("chat").query("availability")  # type: ignore[union-attr]
    assert query is not None and "[$window]" in query
    assert "[22s]" in promql_for_window(query, 22.4) and "$window" not in promql_for_window(query, 22.4)
    assert "[1s]" in promql_for_window(query, 0.2)
    assert load_slo().objective("chat").query("ttft_p95") is None  # type: ignore[union-attr]
