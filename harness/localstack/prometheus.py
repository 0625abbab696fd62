"""Prometheus for the local stack: render its config, keep its targets, run it.

Debian's `prometheus` binary scrapes every component each second: the engine
pods through a file_sd file rewritten when pods change (Prometheus watches it
with inotify), the mesh proxy, and the orchestrator's kube-state-metrics.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yaml

from harness.localstack.procs import free_port, set_parent_death_signal

__all__ = ["PrometheusNotFound", "PrometheusNotReady", "render_config", "engine_targets", "write_targets",
           "launch_prometheus", "RunningPrometheus", "INSTALL_HINT", "unscraped_targets", "wait_first_scrape"]

INSTALL_HINT = "apt-get install -y --no-install-recommends prometheus"
ENGINE_TARGET_LABELS = ("app", "model", "version", "pool", "region")


class PrometheusNotFound(RuntimeError):
    """The `prometheus` binary is not installed."""


class PrometheusNotReady(RuntimeError):
    """Prometheus started but did not answer /-/ready."""

# What /api/v1/targets reports as lastScrape for a target never scraped yet.
_NEVER = "0001-01-01T00:00:00Z"


def render_config(targets_file: Path, admin_address: str, mesh_address: str | None,
                  scrape_interval: str = "1s") -> str:
    """prometheus.yml for the stack. Addresses are host:port."""
    jobs: list[dict[str, object]] = [
        {"job_name": "engine", "file_sd_configs": [{"files": [str(targets_file)]}]},
        # honor_labels keeps kube-state-metrics' own namespace/pod labels, as its
        # ServiceMonitor does on a cluster.
        {"job_name": "kube-state-metrics", "honor_labels": True,
         "static_configs": [{"targets": [admin_address]}]},
    ]
    if mesh_address:
        jobs.append({"job_name": "mesh", "static_configs": [{"targets": [mesh_address],
                                                             "labels": {"app": "istio-ingressgateway"}}]})
    config = {
        "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                   "evaluation_interval": scrape_interval},
        "scrape_configs": jobs,
    }
    return yaml.safe_dump(config, sort_keys=False)


def engine_targets(pods: Iterable[dict[str, object]], namespace: str) -> list[dict[str, object]]:
    """file_sd entries: one per live pod, labelled as a PodMonitor would label it."""
    out: list[dict[str, object]] = []
    for pod in pods:
        labels = pod["labels"]
        assert isinstance(labels, dict)
        out.append({
            "targets": [f"127.0.0.1:{pod['port']}"],
            "labels": {"namespace": namespace, "pod": str(pod["name"]), "container": "vllm",
                       **{k: str(labels[k]) for k in ENGINE_TARGET_LABELS if k in labels}},
        })
    return out


def write_targets(path: Path, targets: list[dict[str, object]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(targets, indent=1))
    tmp.replace(path)  # atomic, so Prometheus never reads half a file


@dataclass
class RunningPrometheus:
    process: asyncio.subprocess.Process
    url: str

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def launch_prometheus(config_file: Path, data_dir: Path, log_file: Path,
                            ready_timeout: float = 15.0) -> RunningPrometheus:
    binary = shutil.which("prometheus")
    if binary is None:
        raise PrometheusNotFound(f"the 'prometheus' binary is not on PATH; install it with: {INSTALL_HINT}")
    data_dir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _attempt in range(3):  # the port is free when chosen but Prometheus binds it itself
        port = free_port()
        with open(log_file, "ab") as log:
            proc = await asyncio.create_subprocess_exec(
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={data_dir}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
                preexec_fn=set_parent_death_signal, start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        if await _wait_ready(proc, url, ready_timeout):
            return RunningPrometheus(proc, url)
        last_error = log_file.read_text(errors="replace")[-400:]
        await RunningPrometheus(proc, url).stop()
        if "address already in use" not in last_error:
            break
    raise PrometheusNotReady(f"Prometheus did not become ready; see {log_file}: {last_error.strip()[-200:]}")


async def _wait_ready(proc: asyncio.subprocess.Process, url: str, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
        while loop.time() < deadline and proc.returncode is None:
            try:
                async with session.get(f"{url}/-/ready") as r:
                    if r.status == 200:
                        return True
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.1)
    return False


def unscraped_targets(targets_answer: dict[str, Any], expected: set[str]) -> set[str]:
    """The `expected` host:port addresses that Prometheus (its /api/v1/targets
    answer) has not yet scraped successfully at least once. Pure."""
    done = set()
    for t in targets_answer.get("data", {}).get("activeTargets", []):
        if t.get("health") == "up" and t.get("lastScrape", _NEVER) != _NEVER:
            done.add(urlsplit(str(t.get("scrapeUrl", ""))).netloc)
    return expected - done


async def wait_first_scrape(url: str, expected: set[str], timeout: float) -> set[str]:
    """Poll Prometheus until every expected target was scraped once; return the
    ones still missing at the deadline (empty: all scraped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    missing = set(expected)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            try:
                async with session.get(f"{url}/api/v1/targets", params={"state": "active"}) as r:
                    missing = unscraped_targets(await r.json(), expected)
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                pass
            if not missing or loop.time() >= deadline:
                return missing
            await asyncio.sleep(0.1)
