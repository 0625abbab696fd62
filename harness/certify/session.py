"""One certification: check the input, get a target (start the embedded
stack when none is given), run the requirements, write the reports.

Everything the user handed in is checked before anything starts: the SLO
file, the requirement ids, the Istio directories and the numbers."""

from __future__ import annotations

import contextlib
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from harness.certify.context import Evidence, RunContext
from harness.certify.registry import discover, select
from harness.certify.requirement import Profile, Requirement
from harness.certify.runner import RequirementResult, run_all
from harness.certify.slo import DEFAULT_SLO, SloSpec, load_slo
from harness.diagnostics import ConfigError, Diagnostic
from harness.localstack.state import StackState
from harness.observe import HeaderObservations, Observations, PrometheusObservations
from harness.observe.prometheus import PromClient
from harness.outbound import OutboundSettings
from harness.report.allure import write_allure_results
from harness.report.capture import write_timeline
from harness.report.html import write_summary_html
from harness.report.junit import write_junit
from harness.report.summary import RunInfo, build_summary, exit_code, write_summary
from harness.targets.base import Target

__all__ = ["CertifyOptions", "Plan", "plan", "certify", "TargetSession", "local_session", "context_for"]


@dataclass
class CertifyOptions:
    target: str = "local"
    profile: Profile = "smoke"
    istio: list[Path] = field(default_factory=list)
    slo: Path | None = None
    requirements: list[str] = field(default_factory=list)
    stack_name: str | None = None
    reports_dir: Path = Path("reports")
    duration_scale: float = 1.0
    kube_context: str | None = None
    namespace: str = "llm"
    gateway: str | None = None  # kube: the ingress gateway's URL
    prometheus: str | None = None  # kube: the cluster Prometheus' URL


@dataclass
class Plan:
    slo: SloSpec
    requirements: list[Requirement]


def plan(opts: CertifyOptions) -> Plan:
    """Validate every input; ConfigError (one line each) before anything runs."""
    if opts.target not in ("local", "kube"):
        raise ConfigError(Diagnostic("error", "--target", f"unknown target {opts.target!r}", fix="use local or kube"))
    if opts.profile not in ("smoke", "full"):
        raise ConfigError(Diagnostic("error", "--profile", f"unknown profile {opts.profile!r}",
                                     fix="use smoke or full"))
    if not 0.1 <= opts.duration_scale <= 100:
        raise ConfigError(Diagnostic("error", "--duration-scale", f"{opts.duration_scale:g} is out of range",
                                     fix="use a factor between 0.1 and 100"))
    slo = load_slo(opts.slo or DEFAULT_SLO)
    requirements = select(discover(), opts.profile, opts.requirements)
    if opts.istio:
        from harness.validation import validate_path

        for directory in opts.istio:
            errors = validate_path(directory).errors
            if errors:
                raise ConfigError(errors[0])
    if opts.target == "kube" and not opts.gateway:
        raise ConfigError(Diagnostic("error", "--gateway", "--target kube needs the ingress gateway's URL",
                                     fix="pass --gateway http://HOST:PORT (and --prometheus URL)"))
    if opts.target == "local" and opts.stack_name and opts.istio:
        raise ConfigError(Diagnostic("error", "--istio", "--istio applies to a stack certify starts itself",
                                     fix="start the stack with 'harness stack up --istio DIR' or drop --stack-name"))
    if opts.target == "local":
        _check_local_capacity(opts, requirements)
    return Plan(slo, requirements)


def _check_local_capacity(opts: CertifyOptions, requirements: list[Requirement]) -> None:
    """A load the local stack cannot carry is refused before it starts: its own
    delays would be judged as the mesh's."""
    from harness.localstack.capacity import check_certify_load
    from harness.localstack.state import read_state
    from harness.localstack.topology import DEFAULT_TOPOLOGY, load_topology

    where, topology = "the reference topology", DEFAULT_TOPOLOGY
    if opts.stack_name:
        state = read_state(opts.stack_name)
        if state is None or not state.topology:
            return  # no such stack: the session says so, with its fix
        where, topology = f"stack {opts.stack_name!r}", Path(state.topology)
    problem = check_certify_load([(r.id, r.peak_streams) for r in requirements], load_topology(topology))
    if problem:
        raise ConfigError(Diagnostic("error", "--stack-name" if opts.stack_name else "--profile",
                                     f"{where}: {problem}"))


@dataclass
class TargetSession:
    target: Target
    gateway: str
    prom: PromClient | None
    observations: Observations
    chaos_configuration: dict[str, Any]


def local_session(state: StackState, namespace: str = "llm") -> TargetSession:
    """The session of a running local stack."""
    from harness.targets.local import LocalTarget

    prom = PromClient(state.prometheus) if state.prometheus else None
    obs: Observations = HeaderObservations(prom) if prom else _NoPrometheus()
    return TargetSession(LocalTarget(state.admin, state.mesh_admin, namespace), state.gateway, prom, obs,
                         {"harness_target": "local", "harness_stack": state.name, "harness_namespace": namespace})


def context_for(requirement: Requirement, run_dir: Path, ts: TargetSession, slo: SloSpec, target_kind: str = "local",
                duration_scale: float = 1.0, fault: dict[str, Any] | None = None) -> RunContext:
    """A requirement's context: its evidence directory and fault journal under `run_dir`."""
    evidence = Evidence(run_dir, requirement.id)
    journal = run_dir / "evidence" / requirement.id / "journal.jsonl"
    return RunContext(requirement, ts.target, target_kind, ts.gateway, ts.observations, ts.prom, slo, evidence,
                      {**ts.chaos_configuration, "harness_journal": str(journal)}, duration_scale, fault or {})


@contextlib.contextmanager
def _local_session(opts: CertifyOptions) -> Iterator[TargetSession]:
    from harness.localstack.state import read_state

    if opts.stack_name:
        state = read_state(opts.stack_name)
        if state is None:
            raise ConfigError(Diagnostic("error", "--stack-name", f"no local stack named {opts.stack_name!r} is running",
                                         fix=f"start it with 'harness stack up --detach --name {opts.stack_name}' "
                                             "or omit --stack-name"))
        yield local_session(state, opts.namespace)
        return
    from harness.localstack.testing import running_stack

    with tempfile.TemporaryDirectory(prefix="harness-certify-") as state_dir, \
            running_stack(istio=opts.istio or None, state_dir=Path(state_dir)) as handle:
        yield local_session(handle.state, opts.namespace)


@contextlib.contextmanager
def _kube_session(opts: CertifyOptions) -> Iterator[TargetSession]:
    from harness.targets.base import TargetError
    from harness.targets.kubernetes import KubernetesTarget

    try:
        target = KubernetesTarget.from_config(opts.namespace, None, opts.kube_context)
    except TargetError as exc:  # no kubeconfig or context: the user's setup, not a failed verdict
        raise ConfigError(Diagnostic("error", "--target kube", str(exc),
                                     fix="point KUBECONFIG at the cluster's kubeconfig or pass --kube-context")) from None
    prom = PromClient(opts.prometheus) if opts.prometheus else None
    obs: Observations = PrometheusObservations(prom) if prom else _NoPrometheus()
    assert opts.gateway is not None
    yield TargetSession(target, opts.gateway, prom, obs,
                        {"harness_target": "kube", "harness_namespace": opts.namespace,
                         **({"harness_kube_context": opts.kube_context} if opts.kube_context else {})})


class _NoPrometheus(PrometheusObservations):
    """No Prometheus to ask: every telemetry question is unanswerable."""

    name = "none"

    def __init__(self) -> None:
        pass

    def shares(self, *args: Any, **kw: Any) -> dict[str, float] | None:
        return None

    def request_count(self, *args: Any, **kw: Any) -> float | None:
        return None


def target_session(opts: CertifyOptions) -> contextlib.AbstractContextManager[TargetSession]:
    return _local_session(opts) if opts.target == "local" else _kube_session(opts)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the stack is stopped and faults rolled back."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def rerun_base(opts: CertifyOptions, outbound: OutboundSettings | None = None) -> list[str]:
    """The command that runs this certification again (a requirement is
    appended per row): the target and everything that reaches it, including
    the transport settings in force (`outbound`, default: the `HARNESS_*`
    environment the CLI set). A header value that looks like a credential is
    written `[redacted]`, to be filled in; the token is never in it (only the
    name of its variable)."""
    cmd = ["harness", "certify", "--target", opts.target]
    for d in opts.istio:
        cmd += ["--istio", str(d)]
    if opts.slo:
        cmd += ["--slo", str(opts.slo)]
    if opts.stack_name:
        cmd += ["--stack-name", opts.stack_name]
    if opts.duration_scale != 1.0:
        cmd += ["--duration-scale", f"{opts.duration_scale:g}"]
    for flag, value in (("--gateway", opts.gateway), ("--prometheus", opts.prometheus),
                        ("--kube-context", opts.kube_context)):
        if value:
            cmd += [flag, value]
    if opts.target != "local" and opts.namespace != CertifyOptions.namespace:
        cmd += ["--namespace", opts.namespace]
    settings = OutboundSettings.from_env() if outbound is None else outbound
    return cmd + settings.cli_flags()


def certify(opts: CertifyOptions, progress: Callable[[int, int, Requirement], None] | None = None,
            session: TargetSession | None = None, finished: Callable[[RequirementResult], None] | None = None,
            ) -> tuple[Path, dict[str, Any], list[RequirementResult]]:
    """Run the certification; (run dir, summary, results). `session` reuses a
    target the caller already holds (the pytest plugin); `progress` and `finished`
    are told as each requirement starts and is judged (the live view)."""
    chosen = plan(opts)
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    run_dir = opts.reports_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with _sigterm_as_interrupt(), (contextlib.nullcontext(session) if session else target_session(opts)) as ts:
        assert ts is not None

        def context(requirement: Requirement) -> RunContext:
            return context_for(requirement, run_dir, ts, chosen.slo, opts.target, opts.duration_scale)

        total = len(chosen.requirements)
        results = run_all(chosen.requirements, context,
                          (lambda i, r: progress(i, total, r)) if progress else None, finished)
        for result in results:  # while the target (its Prometheus) is still up
            result.evidence += write_timeline(context(result.requirement), result)
    info = RunInfo(run_id, opts.target, opts.profile, started, time.time(), rerun_base(opts),
                   [str(p) for p in opts.istio], str(opts.slo or ""), opts.duration_scale)
    summary = build_summary(info, results)
    write_summary(run_dir, summary)
    write_junit(run_dir, summary)
    write_allure_results(run_dir, summary)
    write_summary_html(run_dir, summary)
    assert summary["exit_code"] == exit_code(results)
    return run_dir, summary, results
