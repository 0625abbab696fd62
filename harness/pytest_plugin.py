"""pytest plugin: options, fixtures and markers for the product suites
(`tests/conformance`, `tests/resilience`) and for suites users write.

The suites are thin: each test runs one requirement of the catalogue
through the same runner `harness certify` uses (`harness.certify.runner`),
so a requirement has one verdict whichever way it is run. A failed
requirement fails its test; an inconclusive one fails too, marked
INCONCLUSIVE (it is never a pass); a not-applicable one is skipped.

Imports stay lazy (locust's gevent patching, the kubernetes client) so that
merely having the plugin installed costs nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.certify.requirement import Requirement
    from harness.certify.runner import RequirementResult
    from harness.certify.session import CertifyOptions, TargetSession
    from harness.load.runner import LoadRun
    from harness.observe.prometheus import PromClient

_RESULTS: pytest.StashKey[list[RequirementResult]] = pytest.StashKey()
_STARTED: pytest.StashKey[float] = pytest.StashKey()
_RUN_DIR: pytest.StashKey[Path] = pytest.StashKey()
_GATEWAY: pytest.StashKey[str] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llm-mesh-harness", "LLM mesh harness")
    group.addoption("--target", action="store", default="local", choices=("local", "kube"),
                    help="where the product suites run: the embedded local stack (default) or a Kubernetes cluster")
    group.addoption("--stack-name", action="store", default=None,
                    help="name of an already running local stack to use instead of starting one per session")
    group.addoption("--kube-context", action="store", default=None, help="kubeconfig context (--target kube)")
    group.addoption("--namespace", action="store", default="llm", help="namespace of the LLM services")
    group.addoption("--gateway", action="store", default=None, help="ingress gateway URL (--target kube)")
    group.addoption("--prometheus", action="store", default=None, help="Prometheus URL (--target kube)")
    group.addoption("--slo", action="store", default=None, help="SLO spec (default: reference-stack/slo/reference.yaml)")
    group.addoption("--istio", action="append", default=[], help="Istio YAML directory for the local stack (repeatable)")
    group.addoption("--requirement", action="append", default=[],
                    help="run only the tests of this requirement id (repeatable)")
    group.addoption("--duration-scale", action="store", type=float, default=1.0,
                    help="scale every named timeout of the requirements")
    # the transport of `harness load` / `harness certify` (harness.outbound): an https gateway
    group.addoption("--ca-bundle", action="store", default=None,
                    help="PEM file of the CA(s) that issued the gateway's certificate (instead of the system CAs)")
    group.addoption("--insecure", action="store_true", default=False,
                    help="do not verify the gateway's certificate (stated in the output and in every record)")
    group.addoption("--client-cert", action="store", default=None, help="PEM client certificate for mTLS gateways")
    group.addoption("--client-key", action="store", default=None, help="its private key (if not in the certificate)")
    group.addoption("--api-key-env", action="store", default=None,
                    help="variable holding the bearer token (default OPENAI_API_KEY)")
    group.addoption("--header", action="append", default=[], help="extra header NAME:VALUE for every request "
                    "to the gateway (repeatable)")
    group.addoption("--certify-reports", action="store", default=None,
                    help="also write summary.json, summary.html, junit.xml and allure-results/ of the requirements run here "
                         "under this directory (as harness certify does)")


def pytest_configure(config: pytest.Config) -> None:
    for marker, text in (("conformance", "a conformance requirement (cheap, deterministic)"),
                         ("resilience", "a resilience requirement (a fault under load)"),
                         ("smoke", "in the smoke certification profile")):
        config.addinivalue_line("markers", f"{marker}: {text}")
    config.stash[_RESULTS] = []
    config.stash[_STARTED] = time.time()
    _apply_outbound(config)


def _apply_outbound(config: pytest.Config) -> None:
    """The transport options, given, become the `HARNESS_*` environment every
    probe, load and chaos action of the session reads (as `harness certify`
    hands them on), and a --gateway is checked with them by one request
    before anything runs (an untrusted gateway would read as a mesh failing
    every requirement); a problem is a usage error, one line."""
    def path(option: str) -> Path | None:
        value = config.getoption(option, None)
        return Path(value) if value else None

    ca_bundle, client_cert, client_key = path("--ca-bundle"), path("--client-cert"), path("--client-key")
    insecure: bool = config.getoption("--insecure", False)
    api_key_env: str | None = config.getoption("--api-key-env", None)
    header: list[str] = config.getoption("--header", None) or []
    gateway: str | None = config.getoption("--gateway", None)
    if not (ca_bundle or client_cert or client_key or insecure or api_key_env or header or gateway):
        return
    from rich.console import Console

    from harness.diagnostics import ConfigError
    from harness.load.gateway import apply_settings, outbound_settings, prepare_target

    console = Console(stderr=True, highlight=False)
    try:
        settings = outbound_settings(ca_bundle, insecure, client_cert, client_key, api_key_env, header)
        if gateway:
            # the URL as checked (host:port means http://), as `harness certify` uses it
            config.stash[_GATEWAY] = prepare_target(gateway, settings, console, url_option="--gateway")
        else:
            apply_settings(settings, console)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _options(config: pytest.Config) -> CertifyOptions:
    from harness.certify.session import CertifyOptions

    slo = config.getoption("--slo")
    return CertifyOptions(
        target=config.getoption("--target"), istio=[Path(p) for p in config.getoption("--istio")],
        slo=Path(slo) if slo else None, requirements=list(config.getoption("--requirement")),
        stack_name=config.getoption("--stack-name"), duration_scale=config.getoption("--duration-scale"),
        kube_context=config.getoption("--kube-context"), namespace=config.getoption("--namespace"),
        gateway=config.stash.get(_GATEWAY, config.getoption("--gateway")), prometheus=config.getoption("--prometheus"))


def slow_to_run(requirement: Requirement) -> bool:
    """Marked `slow`: full-only requirements wait out mesh timers or long
    faults, and autoscaling ones hold load through the HPA's windows."""
    return "smoke" not in requirement.profiles or requirement.feature == "autoscaling"


def requirement_params(kind: str) -> list[Any]:
    """The catalogue's requirements of `kind` as pytest params with their
    markers (kind, smoke), for `@pytest.mark.parametrize("requirement", ...)`."""
    from harness.certify.registry import discover

    params = []
    for r in discover():
        if r.kind != kind:
            continue
        marks = [getattr(pytest.mark, kind)] + ([pytest.mark.smoke] if "smoke" in r.profiles else [])
        if slow_to_run(r):
            marks.append(pytest.mark.slow)
        params.append(pytest.param(r, id=r.id, marks=marks))
    return params


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = set(config.getoption("--requirement"))
    if not wanted:
        return
    from harness.certify.registry import discover, select
    from harness.diagnostics import ConfigError

    try:
        select(discover(), "full", wanted)  # an unknown id is a usage error, not an empty run
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        requirement = callspec.params.get("requirement") if callspec is not None else None
        (keep if requirement is None or requirement.id in wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def certify_session(request: pytest.FixtureRequest) -> Iterator[TargetSession]:
    """The target the requirements run against: the --stack-name stack, a fresh
    embedded stack for the session (with --istio), or a cluster (--target kube)."""
    from harness.certify.session import plan, target_session
    from harness.diagnostics import ConfigError

    opts = _options(request.config)
    try:
        plan(opts)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    with contextlib.ExitStack() as stack:
        try:
            session = stack.enter_context(target_session(opts))
        except ConfigError as exc:
            # no target (no kubeconfig, no such stack): the whole session's usage error, one line
            pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
        yield session


@pytest.fixture(scope="session")
def certify_run_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    reports = request.config.getoption("--certify-reports")
    if reports:
        path = Path(reports) / (time.strftime("%Y%m%dT%H%M%S") + "-pytest")
        path.mkdir(parents=True, exist_ok=True)
    else:
        path = tmp_path_factory.mktemp("certify")
    request.config.stash[_RUN_DIR] = path
    return path


@pytest.fixture
def certify(request: pytest.FixtureRequest, certify_session: TargetSession,
            certify_run_dir: Path) -> Callable[[Requirement], RequirementResult]:
    """Run one requirement on the session's target and turn its verdict into
    the test's outcome; returns the result for further assertions."""
    from harness.certify.runner import run_requirement
    from harness.certify.session import context_for
    from harness.certify.slo import DEFAULT_SLO, load_slo
    from harness.report.capture import write_timeline
    from harness.verdict import Verdict

    opts = _options(request.config)
    slo = load_slo(opts.slo or DEFAULT_SLO)

    def run(requirement: Requirement) -> RequirementResult:
        context = context_for(requirement, certify_run_dir, certify_session, slo, opts.target, opts.duration_scale)
        result = run_requirement(requirement, context)
        result.evidence += write_timeline(context, result)  # while the target is up
        request.config.stash[_RESULTS].append(result)
        if result.verdict is Verdict.FAIL:
            pytest.fail(f"{requirement.id}: {result.reason}", pytrace=False)
        if result.verdict is Verdict.INCONCLUSIVE:
            pytest.fail(f"INCONCLUSIVE {requirement.id}: {result.reason}", pytrace=False)
        if result.verdict is Verdict.NOT_APPLICABLE:
            pytest.skip(f"not applicable: {result.reason}")
        return result

    return run


@pytest.fixture
def prometheus(certify_session: TargetSession) -> PromClient:
    """The target's Prometheus (skips the test when there is none)."""
    if certify_session.prom is None:
        pytest.skip("no Prometheus for this target (pass --prometheus URL)")
    return certify_session.prom


@pytest.fixture
def chaos_configuration(certify_session: TargetSession, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A Chaos Toolkit style configuration naming the session's target, with a
    journal of its own; every fault in it is rolled back after the test."""
    from harness.chaos.actions import rollback_all

    configuration = {**certify_session.chaos_configuration, "harness_journal": str(tmp_path / "journal.jsonl")}
    try:
        yield configuration
    finally:
        rollback_all(configuration)


@pytest.fixture
def background_load(certify_session: TargetSession) -> Iterator[Callable[..., LoadRun]]:
    """Start a load profile against the target's gateway (`background_load("chat_stream",
    duration_s=30, users=10)`); `.wait().records` are the RequestRecords. Stopped after the test."""
    from harness.load.runner import LoadRun

    runs: list[LoadRun] = []

    def start(profile: str = "chat_stream", **kw: Any) -> LoadRun:
        run = LoadRun(profile, certify_session.gateway, **kw).start()
        runs.append(run)
        return run

    try:
        yield start
    finally:
        for run in runs:
            run.__exit__(None, None, None)


@pytest.fixture(scope="session")
def local_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A running local stack for the session: the one named by --stack-name, or a
    fresh reference stack under a private state dir, stopped at the end."""
    from harness.localstack.stack import StackOptions
    from harness.localstack.state import read_state
    from harness.localstack.testing import StackHandle, running_stack

    if request.config.getoption("--target") != "local":
        pytest.skip("needs --target local")
    name = request.config.getoption("--stack-name")
    if name:
        state = read_state(name)
        if state is None:
            raise pytest.UsageError(f"--stack-name {name}: no such stack is running; start it with "
                                    f"'harness stack up --detach --name {name}'")
        yield StackHandle(state, StackOptions(name=name))
        return
    with running_stack(state_dir=tmp_path_factory.mktemp("harness-state")) as handle:
        yield handle


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reports = session.config.getoption("--certify-reports", default=None)
    results = session.config.stash.get(_RESULTS, [])
    run_dir = session.config.stash.get(_RUN_DIR, None)
    if not reports or not results or run_dir is None:
        return
    from harness.certify.session import rerun_base
    from harness.report.allure import write_allure_results
    from harness.report.html import write_summary_html
    from harness.report.junit import write_junit
    from harness.report.summary import RunInfo, build_summary, write_summary

    opts = _options(session.config)
    info = RunInfo(run_dir.name, opts.target, "pytest", session.config.stash[_STARTED], time.time(),
                   rerun_base(opts), [str(p) for p in opts.istio], str(opts.slo or ""), opts.duration_scale)
    summary = build_summary(info, results)
    write_summary(run_dir, summary)
    write_junit(run_dir, summary)
    write_allure_results(run_dir, summary)
    write_summary_html(run_dir, summary)
