import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.certify.registry import discover, select
from harness.certify.requirement import BrokenMesh, Requirement
from harness.certify.runner import RequirementResult
from harness.diagnostics import ConfigError
from harness.report.allure import write_allure_results
from harness.report.junit import write_junit
from harness.report.summary import RunInfo, build_summary, exit_code, feature_results, score
from harness.verdict import Check, Verdict, combine


def test_judge_never_passes_without_data() -> None:
    assert Check.judge("r", "x", None, ">=", 0.99).verdict is Verdict.INCONCLUSIVE
    assert Check.judge("r", "x", float("nan"), ">=", 0.99).verdict is Verdict.INCONCLUSIVE
    few = Check.judge("r", "x", 1.0, ">=", 0.99, samples=3, min_samples=100)
    assert few.verdict is Verdict.INCONCLUSIVE and "3 samples" in few.reason


@pytest.mark.parametrize("observed,op,threshold,verdict", [
    (0.995, ">=", 0.99, Verdict.PASS), (0.98, ">=", 0.99, Verdict.FAIL),
    (0.2, "<=", 0.5, Verdict.PASS), (0.6, "<=", 0.5, Verdict.FAIL),
    (0.21, "within", (0.13, 0.27), Verdict.PASS), (0.5, "within", (0.13, 0.27), Verdict.FAIL),
])
def test_judge_compares(observed: float, op: str, threshold: object, verdict: Verdict) -> None:
    check = Check.judge("r", "x", observed, op, threshold)  # type: ignore[arg-type]
    assert check.verdict is verdict and check.reason


def test_combine_worst_wins_and_nothing_is_inconclusive() -> None:
    assert combine([Verdict.PASS, Verdict.INCONCLUSIVE]) is Verdict.INCONCLUSIVE
    assert combine([Verdict.INCONCLUSIVE, Verdict.FAIL, Verdict.PASS]) is Verdict.FAIL
    assert combine([Verdict.PASS, Verdict.NOT_APPLICABLE]) is Verdict.PASS
    assert combine([]) is Verdict.INCONCLUSIVE


def _req(rid: str, feature: str, weight: int = 1) -> Requirement:
    return Requirement(id=rid, title=rid, feature=feature, profiles=frozenset({"smoke"}), observes=(),
                       thresholds={}, timeouts={}, broken=BrokenMesh("x", "VirtualService", "v", lambda o: o),
                       run=lambda ctx: [], weight=weight)


def _result(rid: str, feature: str, verdict: Verdict, weight: int = 1, evidence: list[str] | None = None
            ) -> RequirementResult:
    check = Check(rid, "share", verdict, 0.5, 1.0, "", f"{verdict.value} because", tuple(evidence or []))
    return RequirementResult(_req(rid, feature, weight), verdict, [check], 1.7e9, 2.5, evidence or [])


def test_score_features_and_exit_codes() -> None:
    results = [_result("a.one", "a", Verdict.PASS, 3), _result("a.two", "a", Verdict.FAIL),
               _result("b.one", "b", Verdict.PASS), _result("c.one", "c", Verdict.INCONCLUSIVE),
               _result("c.two", "c", Verdict.NOT_APPLICABLE)]
    assert score(results) == pytest.approx(100 * 4 / 6, abs=0.1)
    features = feature_results(results)
    assert {k: v["result"] for k, v in features.items()} == {"a": "failure", "b": "success", "c": "partial"}
    assert exit_code(results) == 1
    assert exit_code([r for r in results if r.verdict is not Verdict.FAIL]) == 3
    assert exit_code([results[0], results[2]]) == 0
    assert exit_code([]) == 3


def test_summary_junit_and_allure_agree(tmp_path: Path) -> None:
    (tmp_path / "evidence" / "a.two").mkdir(parents=True)
    (tmp_path / "evidence" / "a.two" / "records.csv").write_text("start,ok\n")
    results = [_result("a.one", "a", Verdict.PASS), _result("a.two", "a", Verdict.FAIL,
                                                            evidence=["evidence/a.two/records.csv"]),
               _result("c.one", "c", Verdict.INCONCLUSIVE)]
    info = RunInfo("run-1", "local", "smoke", 1.7e9, 1.7e9 + 10, ["harness", "certify", "--target", "local"])
    summary = build_summary(info, results)
    json.dumps(summary)  # serialisable
    assert summary["requirements"][0]["timeline"] == {}
    assert summary["requirements"][1]["rerun"] == "harness certify --target local --requirement a.two"
    assert summary["counts"] == {"pass": 1, "fail": 1, "inconclusive": 1, "not-applicable": 0}
    suite = ET.parse(write_junit(tmp_path, summary)).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("errors") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["a.two"].find("failure") is not None and cases["c.one"].find("error") is not None
    assert cases["a.one"].find("failure") is None
    out = write_allure_results(tmp_path, summary)
    allure = [json.loads(p.read_text()) for p in out.glob("*-result.json")]
    by_id = {a["fullName"]: a for a in allure}
    assert by_id["a.two"]["status"] == "failed" and by_id["c.one"]["status"] == "broken"
    labels = {lab["name"]: lab["value"] for lab in by_id["a.two"]["labels"]}
    assert labels["epic"] == "conformance" and labels["feature"] == "a" and labels["story"] == "a.two"
    [attachment] = by_id["a.two"]["attachments"]
    assert (out / attachment["source"]).read_text() == "start,ok\n" and attachment["type"] == "text/csv"


def test_registry_finds_each_requirement_once_with_its_broken_mesh() -> None:
    catalogue = discover()
    ids = [r.id for r in catalogue]
    assert len(ids) == len(set(ids)) and "routing.canary-split" in ids
    for r in catalogue:
        assert r.broken.description and r.feature and r.profiles and r.title
        assert r.id.split(".")[0] in ("routing", "affinity", "balancing", "resilience", "timeouts", "retries",
                                      "circuit-breaking", "outlier", "failover", "fallback", "isolation",
                                      "mirroring", "autoscaling", "latency")


def test_select_by_profile_and_refuse_unknown_ids() -> None:
    catalogue = discover()
    assert select(catalogue, "smoke") == [r for r in catalogue if "smoke" in r.profiles]
    assert [r.id for r in select(catalogue, "smoke", ["routing.canary-split"])] == ["routing.canary-split"]
    with pytest.raises(ConfigError, match="unknown requirement id 'routing.nope'"):
        select(catalogue, "smoke", ["routing.nope"])
