"""The fault set: setting, clearing one or all, and kinds that must stay."""

from harness.localstack.engine.faults import FAULT_ADAPTER, FaultSet


def test_clear_one_all_and_kept_kinds() -> None:
    faults = FaultSet()
    for body in ({"kind": "slow", "factor": 2}, {"kind": "gpu_oom"}, {"kind": "hang"}):
        faults.set(FAULT_ADAPTER.validate_python(body))
    assert faults.slow_factor == 2 and faults.hanging
    assert faults.clear("slow") == ["slow"] and faults.slow_factor == 1.0
    # a dead engine keeps reporting its OOM whatever is cleared
    assert faults.clear(keep=frozenset({"gpu_oom"})) == ["hang"]
    assert set(faults.describe()) == {"gpu_oom"} and faults.describe()["gpu_oom"]["exit_after_s"] == 5.0
    assert faults.clear("gpu_oom", keep=frozenset({"gpu_oom"})) == []
    assert faults.clear() == ["gpu_oom"] and faults.describe() == {}


def test_error_rate_draws_are_seeded() -> None:
    def draws(seed: int) -> list[int | None]:
        f = FaultSet(seed)
        f.set(FAULT_ADAPTER.validate_python({"kind": "error_rate", "rate": 0.5, "status": 500}))
        return [f.injected_error() for _ in range(50)]

    assert draws(1) == draws(1) and set(draws(1)) == {None, 500}
