"""What `harness stack status` and the smoke run show: a running stack's pods,
regions and HPAs, read from its admin API, and their rendering."""

from __future__ import annotations

from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from harness.localstack.state import StackState

__all__ = ["collect_status", "print_status", "STATUS_TIMEOUT_S"]

STATUS_TIMEOUT_S = 5.0


async def collect_status(state: StackState) -> dict[str, Any]:
    """The stack's status as `stack status --json` prints it. Asynchronous on
    purpose: the foreground stack serves this API from the caller's own loop.
    Raises httpx.HTTPError when the admin API does not answer."""
    async with httpx.AsyncClient(base_url=state.admin, timeout=STATUS_TIMEOUT_S) as client:
        pods = (await client.get("/pods")).json()["pods"]
        regions = (await client.get("/regions")).json()["regions"]
        hpas = (await client.get("/hpas")).json()["hpas"]
    return {
        "name": state.name, "gateway": state.gateway, "prometheus": state.prometheus, "admin": state.admin,
        "mesh_admin": state.mesh_admin, "pid": state.pid, "pods": pods, "regions": regions, "hpas": hpas,
    }


def print_status(status: dict[str, Any], console: Console) -> None:
    """A table of pods, then the stack's URLs and regions."""
    table = Table(title=f"stack '{status['name']}'")
    for col in ("pod", "region", "app", "version", "pool", "phase", "ready", "restarts", "url"):
        table.add_column(col)
    for p in status["pods"]:
        lab = p["labels"]
        table.add_row(p["name"], p["region"], lab.get("app", ""), lab.get("version", ""), lab.get("pool", ""),
                      p["phase"], "yes" if p["ready"] else "no", str(p["restarts"]), p["url"])
    console.print(table)
    console.print(f"gateway     {status['gateway']}")
    console.print(f"prometheus  {status['prometheus'] or '(not started)'}")
    console.print(f"admin       {status['admin']}")
    if status["mesh_admin"]:
        console.print(f"mesh admin  {status['mesh_admin']}")
    regions = ", ".join(f"{r['name']} ({r['state']})" for r in status["regions"])
    console.print(f"regions     {regions}")
