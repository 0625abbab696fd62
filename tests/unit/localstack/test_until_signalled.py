"""SIGINT and SIGTERM cancel the work once, let its cleanup finish, and
surface as Interrupted (exit 130 in the CLI)."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from harness.localstack.stack import Interrupted, until_signalled


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_cancels_the_work_and_its_cleanup_completes(sig: signal.Signals) -> None:
    steps: list[str] = []

    async def work() -> None:
        try:
            steps.append("started")
            await asyncio.sleep(30)
        finally:
            # a second signal during cleanup must not cut it short
            os.kill(os.getpid(), sig)
            await asyncio.sleep(0.05)
            steps.append("cleaned up")

    async def main() -> None:
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), sig)
        await until_signalled(work())

    with pytest.raises(Interrupted) as info:
        asyncio.run(main())
    assert info.value.signum == sig and steps == ["started", "cleaned up"]
    assert str(info.value) == f"interrupted by {sig.name}"
    # the handlers are gone again: the default SIGINT behaviour is back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_work_that_ends_returns_its_result() -> None:
    async def work() -> int:
        return 7

    async def main() -> int:
        return await until_signalled(work())

    assert asyncio.run(main()) == 7
