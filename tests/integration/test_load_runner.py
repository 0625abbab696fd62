"""The headless load runner and the LLM users against real servers: the
engine simulator, a deliberately broken server, and nothing at all."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from misbehaving_server import misbehaving_server

from harness.diagnostics import ConfigError
from harness.load.records import records_frame
from harness.load.runner import LoadRun, resolve_profile
from harness.load.thresholds import Thresholds
from harness.localstack.testing import EngineProcess, engine_process, eventually

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).parent / "fixtures" / "load"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def engine() -> Iterator[EngineProcess]:
    with engine_process({"decodeStepMs": 10, "seed": 1}, pod="load-0") as e:
        yield e


def test_chat_stream_profile_records_every_request(engine: EngineProcess) -> None:
    result = LoadRun("chat_stream", engine.url, duration_s=3, users=4, spawn_rate=4).run()
    df = result.records
    assert result.exit_code == 0, result.output
    assert len(df) >= 4 and df["ok"].all()  # at least one per user: a loaded 2-core machine completes few in 3 s
    assert (df["ttft_s"] > 0).all() and (df["ttft_s"] < df["e2e_s"]).all()
    assert (df["output_tokens"] == 64).all()  # from the usage chunk
    assert df["itl_s"].map(len).eq(63).all()
    assert set(df["served_pod"]) == {"load-0"} and set(df["served_model"]) == {"llama-3-8b"}
    # the decode step is 10 ms: the median inter-token gap must be near it
    gaps = sorted(g for row in df["itl_s"] for g in row)
    assert 0.008 < gaps[len(gaps) // 2] < 0.030
    stats = result.stats
    assert {"POST", "TTFT", "TPOT", "ITL"} <= set(stats["Type"].dropna())
    _assert_totals_count_requests_only(stats, df)


def _assert_totals_count_requests_only(stats: pd.DataFrame, df: pd.DataFrame) -> None:
    """Locust's Aggregated row counts requests (POST rows) only; the token
    timing rows keep their own counts. Locust rewrites its CSV once a second,
    so the requests of the last second may be in the records only."""
    total = stats[stats["Name"] == "Aggregated"].iloc[0]
    requests = stats[stats["Type"] == "POST"]
    timing = stats.groupby("Type")["Request Count"].sum()
    ok_requests = requests["Request Count"].sum() - requests["Failure Count"].sum()
    assert 0 < total["Request Count"] <= len(df), (total["Request Count"], len(df))
    assert total["Request Count"] == requests["Request Count"].sum()
    assert total["Failure Count"] == requests["Failure Count"].sum()
    assert ok_requests > 0 and timing.get("TTFT", 0) == ok_requests
    assert timing.get("ITL", 0) > 10 * ok_requests  # many gaps per request, none of them counted as one
    # the aggregated response time is the requests' end-to-end time, not a token gap
    e2e_ms = df["e2e_s"].mean() * 1000
    assert abs(total["Average Response Time"] - e2e_ms) < 0.1 * e2e_ms


@pytest.mark.parametrize("profile", ["mixed_tiers", "sticky_sessions", "long_context", "batch"])
def test_every_profile_runs_with_stock_locust(engine: EngineProcess, profile: str, tmp_path: Path) -> None:
    records = tmp_path / "r.jsonl"
    # mixed_tiers also shows stock Locust's totals: long enough for its CSV (rewritten each second) to hold requests
    users, run_time = ("4", "6s") if profile == "mixed_tiers" else ("2", "3s")
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "loadprofiles" / f"{profile}.py"), "--headless",
           "--host", engine.url, "-u", users, "-r", users, "-t", run_time, "--stop-timeout", "10s",
           "--records", str(records), "--only-summary", "--csv", str(tmp_path / "l")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    lines = [line for line in records.read_text().splitlines() if line]
    assert lines, p.stdout + p.stderr
    if profile == "mixed_tiers":  # stock Locust's totals count requests too
        df = records_frame(json.loads(line) for line in lines)
        _assert_totals_count_requests_only(pd.read_csv(tmp_path / "l_stats.csv"), df)
    if profile == "sticky_sessions":
        users = {json.loads(line)["user_id"] for line in lines}
        assert all(u and u.startswith("user-") for u in users)


def test_error_kinds_from_a_misbehaving_server() -> None:
    with misbehaving_server() as url:
        run = LoadRun(FIXTURES / "misbehaving.py", url, duration_s=3, users=6, spawn_rate=6)
        df = run.run().records
    kinds = dict(zip(df["scenario"], df["error_kind"], strict=True))
    assert kinds["Malformed"] == "malformed_event"
    assert kinds["Cut"] == "stream_cut"
    assert kinds["HtmlError"] == "http"
    assert kinds["StreamError"] == "stream_error"
    assert kinds["Slow"] == "timeout"
    assert pd.isna(kinds["UnaryOk"])
    html = df[df["scenario"] == "HtmlError"].iloc[0]
    assert html["status"] == 503 and "upstream overloaded" in html["error"]
    failed = df[df["error_kind"].notna()]
    assert failed["ttft_s"].isna().all() and failed["itl_s"].map(len).eq(0).all()
    ok = df[df["scenario"] == "UnaryOk"]
    assert (ok["output_tokens"] == 3).all() and ok["ok"].all()


def test_unreachable_target_fails_fast_and_ends_on_time() -> None:
    t0 = time.monotonic()
    result = LoadRun("chat_stream", "http://127.0.0.1:9", duration_s=2, users=2, spawn_rate=2).run()
    assert time.monotonic() - t0 < 20
    df = result.records
    assert len(df) > 0 and set(df["error_kind"]) == {"connect"}
    assert "Connection refused" in df["error"].iloc[0]


def test_stop_ends_a_long_run_early(engine: EngineProcess) -> None:
    run = LoadRun("chat_stream", engine.url, duration_s=600, users=2, spawn_rate=2).start()
    eventually(lambda: run.records_file.read_text().strip(), 30, "the first records")
    t0 = time.monotonic()
    run.stop()
    result = run.wait()
    assert time.monotonic() - t0 < 15
    assert len(result.records) > 0 and run.process is not None and run.process.poll() is not None


def test_thresholds_set_the_exit_code(engine: EngineProcess) -> None:
    missed = LoadRun("chat_stream", engine.url, duration_s=2, users=2, spawn_rate=2,
                     thresholds=Thresholds(max_ttft_p95_ms=0.001)).run()
    assert missed.exit_code == 3 and "FAILED: ttft_p95_ms" in missed.output
    met = LoadRun("chat_stream", engine.url, duration_s=2, users=2, spawn_rate=2,
                  thresholds=Thresholds(max_error_rate=0.0, max_ttft_p95_ms=60_000)).run()
    assert met.exit_code == 0 and "LLM thresholds met" in met.output


def test_open_loop_holds_its_rate_against_a_slow_target() -> None:
    # 20 req/s constant arrivals; each request takes ~1 s (100 tokens x 10 ms), so
    # a closed-loop client with few users would fall far behind.
    with engine_process({"decodeStepMs": 10, "maxNumSeqs": 512}) as slow:
        profile = FIXTURES / "open_loop.py"
        result = LoadRun(profile, slow.url, duration_s=5, users=1, spawn_rate=1).run()
    df = result.records
    starts = df["start"].sort_values()
    span = (starts.iloc[-1] - starts.iloc[0]).total_seconds()
    rate = (len(df) - 1) / span
    assert abs(rate - 20) / 20 < 0.1, rate
    assert (df["latency_origin"] == "intended").all()


def test_unknown_profile_is_one_clear_error() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_profile("chatt_stream")
    text = str(info.value)
    assert "no such load profile" in text and "chat_stream" in text


def test_cli_unknown_profile_exit_2_one_line() -> None:
    p = subprocess.run([sys.executable, "-m", "harness", "load", "--profile", "nope", "--headless", "--host",
                        "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "no such load profile" in p.stderr


def test_cli_csv_directory_with_a_dot_in_its_name(engine: EngineProcess, tmp_path: Path) -> None:
    out = tmp_path / "nightly.1"
    p = subprocess.run([sys.executable, "-m", "harness", "load", "--profile", "chat_stream", "--headless", "--host",
                        engine.url, "--duration", "2s", "-u", "2", "-r", "2", "--csv", f"{out}/"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (out / "locust_stats.csv").is_file() and (out / "records.jsonl").read_text().strip()
    history = (out / "locust_llm_history.csv").read_text().splitlines()  # the LLM tab's figures over time
    assert history[0].startswith("time,series,requests_per_s") and ",ChatStream (standard)," in history[-1]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["nightly.1"]  # nothing landed beside it
