"""log_many: a stream's token gaps logged in one pass must leave Locust's
stats entry exactly as one `log` per gap does. In a child interpreter:
importing Locust monkey-patches the process with gevent."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHILD = """
import json, sys
from locust.stats import RequestStats
from harness.load.plugin import log_many
times = json.loads(sys.argv[1])
one_by_one, batched = RequestStats().get("x", "ITL"), RequestStats().get("x", "ITL")
one_by_one.log(99.0, 0)
batched.log(99.0, 0)
for t in times:
    one_by_one.log(t, 0)
log_many(batched, times)
fields = ("num_requests", "total_response_time", "min_response_time", "max_response_time",
          "total_content_length")
def state(e):
    return {**{f: getattr(e, f) for f in fields}, "response_times": sorted(e.response_times.items()),
            "per_second": sum(e.num_reqs_per_sec.values())}
print(json.dumps([state(one_by_one), state(batched)]))
"""


@pytest.mark.parametrize("times", [[12.0], [3.2, 0.4, 157.0, 3432.0, 0.0, 12.5], [1.0] * 50])
def test_log_many_equals_one_log_per_value(times: list[float]) -> None:
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(times)], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    one_by_one, batched = json.loads(out)
    assert batched == one_by_one
    assert batched["num_requests"] == batched["per_second"] == len(times) + 1
