"""A stack name is held by one lock at a time; a stack is ready only when
Prometheus has scraped every target once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.diagnostics import ConfigError
from harness.localstack.prometheus import unscraped_targets
from harness.localstack.state import adopt_name_lock, lock_name

NEVER = "0001-01-01T00:00:00Z"


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path))


def test_a_taken_name_is_refused_until_released() -> None:
    fd = lock_name("r")
    try:
        with pytest.raises(ConfigError) as info:
            lock_name("r")
        assert str(info.value) == ("error: --name: a stack named 'r' is already running or starting "
                                   "(fix: run 'harness stack down --name r' or choose another --name)")
        other = lock_name("s")  # other names are independent
        os.close(other)
    finally:
        os.close(fd)
    os.close(lock_name("r"))  # free again once its holder closed it


def test_an_inherited_lock_is_adopted_and_not_passed_on() -> None:
    fd = lock_name("r")
    os.set_inheritable(fd, True)  # as a parent hands it to the stack's process
    try:
        assert adopt_name_lock(fd) == fd
        assert not os.get_inheritable(fd)
    finally:
        os.close(fd)


def test_a_descriptor_without_the_lock_is_not_adopted(tmp_path: Path) -> None:
    holder = lock_name("r")
    stranger = os.open(tmp_path / "stacks" / "r" / "lock", os.O_RDWR)
    try:
        with pytest.raises(ValueError, match="does not hold a stack name lock"):
            adopt_name_lock(stranger)
    finally:
        os.close(stranger)
        os.close(holder)


def target(address: str, health: str = "up", last: str = "2026-11-29T03:00:00.1Z") -> dict[str, str]:
    return {"scrapeUrl": f"http://{address}/metrics", "health": health, "lastScrape": last}


def test_first_scrape_needs_every_expected_target_up_and_scraped() -> None:
    expected = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}
    answer = {"status": "success", "data": {"activeTargets": [
        target("127.0.0.1:1"),
        target("127.0.0.1:2", health="unknown", last=NEVER),  # discovered, never scraped
        target("127.0.0.1:3", health="down"),  # scraped, but it failed
        target("127.0.0.1:9"),  # not one of ours: does not count
    ]}}
    assert unscraped_targets(answer, expected) == {"127.0.0.1:2", "127.0.0.1:3"}
    assert unscraped_targets({"data": {"activeTargets": []}}, expected) == expected  # file_sd not read yet
    done = {"data": {"activeTargets": [target(a) for a in sorted(expected)]}}
    assert unscraped_targets(done, expected) == set()
