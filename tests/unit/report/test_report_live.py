import io
from types import SimpleNamespace

import pytest
from rich.console import Console

from harness.certify.requirement import BrokenMesh, Requirement
from harness.certify.runner import RequirementResult, run_all
from harness.report.live import LiveView, eta_s
from harness.verdict import Check, Verdict


def _req(rid: str, verdict: Verdict) -> Requirement:
    def run(ctx: object) -> list[Check]:
        return [Check(rid, "v2 share", verdict, 0.5, "[0.13, 0.27]", "", "why")]

    return Requirement(id=rid, title=f"title of {rid}", feature="f", profiles=frozenset({"smoke"}), observes=(),
                       thresholds={}, timeouts={}, broken=BrokenMesh("x", "VirtualService", "v", lambda o: o),
                       run=run)  # type: ignore[arg-type]


_CONTEXT = SimpleNamespace(prom=None, evidence=SimpleNamespace(files=[]), timeline={})


def test_eta_at_the_pace_so_far() -> None:
    assert eta_s(30.0, 3, 5) == pytest.approx(20.0)
    assert eta_s(5.0, 0, 5) is None and eta_s(50.0, 5, 5) == 0.0


@pytest.mark.parametrize("terminal", [False, True])
def test_each_verdict_is_shown_as_it_is_judged(terminal: bool) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=160, color_system=None)
    reqs = [_req("a.one", Verdict.PASS), _req("a.two", Verdict.FAIL)]
    with LiveView(console) as live:
        results: list[RequirementResult] = run_all(reqs, lambda r: _CONTEXT,  # type: ignore[arg-type,return-value]
                                                   lambda i, r: live.started(i, len(reqs), r), live.finished)
    text = out.getvalue()
    assert [r.verdict for r in results] == [Verdict.PASS, Verdict.FAIL]
    assert "pass a.one" in text and "fail a.two" in text and "v2 share 0.5 vs [0.13, 0.27]" in text
    assert text.index("pass a.one") < text.index("fail a.two")
    if not terminal:  # a CI log: one plain line per requirement as it starts, with done/total and ETA
        assert "[1/2] a.one: title of a.one (elapsed 0:00, ETA -:--)" in text and "[2/2] a.two" in text
    else:
        assert live.done == 2 and live.task is not None
        assert live.progress.tasks[0].completed == 2 and live.progress.tasks[0].total == 2
