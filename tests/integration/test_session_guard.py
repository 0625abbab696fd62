"""The test suite's own guard (tests/conftest.py) fails a run that leaves a
process behind: a detached child, or an orphan re-parented to init."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration

GUARD = Path(__file__).resolve().parents[1] / "conftest.py"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_a_run_that_leaves_processes_fails_and_kills_them(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makeconftest(GUARD.read_text())
    pids = tmp_path / "pids"
    pytester.makepyfile(f"""
        import subprocess
        def test_leaks():
            detached = subprocess.Popen(["sleep", "60"], start_new_session=True)
            # the shell exits at once: its sleep is re-parented, no longer a descendant of pytest
            orphan = subprocess.run(["sh", "-c", "sleep 61 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True)
            with open({str(pids)!r}, "w") as f:
                f.write(f"{{detached.pid}} {{orphan.stdout.strip()}}")
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*processes started by the tests outlived them (now killed):*",
                                 "*sleep 60*", "*sleep 61*"])
    result.assert_outcomes(passed=1)
    detached, orphan = (int(p) for p in pids.read_text().split())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (_alive(detached) or _alive(orphan)):
        time.sleep(0.05)
    assert not _alive(detached) and not _alive(orphan)


def test_a_clean_run_passes(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(GUARD.read_text())
    pytester.makepyfile("""
        import subprocess
        def test_waits_for_its_child():
            subprocess.run(["true"], check=True)
    """)
    assert pytester.runpytest_subprocess("-p", "no:cacheprovider").ret == pytest.ExitCode.OK
    assert os.environ.get("HARNESS_TEST_SESSION")  # this session's own token is untouched
