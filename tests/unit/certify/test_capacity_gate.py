"""`harness certify` refuses, before anything runs, a local stack whose
measured capacity is smaller than what the chosen requirements hold in flight."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.certify.registry import discover
from harness.certify.session import CertifyOptions, plan
from harness.diagnostics import ConfigError
from harness.localstack import state as state_module
from harness.localstack.capacity import check_certify_load, stream_capacity
from harness.localstack.topology import DEFAULT_TOPOLOGY, load_topology


def fast_topology(tmp_path: Path, step_ms: int) -> Path:
    """The reference topology with every engine decoding a token each `step_ms`."""
    text = DEFAULT_TOPOLOGY.read_text()
    text = text.replace("decodeStepMs: 18", f"decodeStepMs: {step_ms}").replace("decodeStepMs: 40",
                                                                                f"decodeStepMs: {step_ms}")
    path = tmp_path / "fast.yaml"
    path.write_text(text)
    return path


def test_every_requirement_fits_the_reference_stack() -> None:
    capacity = stream_capacity(load_topology(DEFAULT_TOPOLOGY))[0]
    assert check_certify_load([(r.id, r.peak_streams) for r in discover()], load_topology(DEFAULT_TOPOLOGY)) is None
    assert max(r.peak_streams for r in discover()) <= capacity


def test_the_largest_requirement_over_capacity_is_named_with_the_capacity_and_a_way_out(tmp_path: Path) -> None:
    topology = load_topology(fast_topology(tmp_path, 1))  # 1,000 frames a stream a second: 12 streams
    capacity = stream_capacity(topology)[0]
    message = check_certify_load([("a.small", capacity), ("b.big", capacity + 100), ("c.mid", capacity + 1)],
                                 topology)
    assert message is not None
    assert f"requirement b.big holds {capacity + 100} requests" in message
    assert f"({capacity}: the mesh proxy relays" in message
    assert "--requirement a.small" in message and "--target kube" in message
    assert check_certify_load([("a.small", capacity)], topology) is None


def test_certify_on_a_running_stack_too_small_is_bad_input_before_anything_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = fast_topology(tmp_path, 1)
    monkeypatch.setattr(state_module, "read_state",
                        lambda name: SimpleNamespace(topology=str(fast)) if name == "tiny" else None)
    opts = CertifyOptions(target="local", profile="smoke", stack_name="tiny", reports_dir=tmp_path / "reports")
    with pytest.raises(ConfigError) as err:
        plan(opts)
    text = str(err.value)
    assert "stack 'tiny'" in text and "more than this local stack carries" in text
    assert not (tmp_path / "reports").exists()
    # the same profile on a stack with the reference topology is accepted
    monkeypatch.setattr(state_module, "read_state", lambda name: SimpleNamespace(topology=str(DEFAULT_TOPOLOGY)))
    assert plan(opts).requirements
