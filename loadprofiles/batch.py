"""Offline batch jobs: non-streaming completions marked `x-request-type: batch`
(the reference mesh sends them to the standard pool with long timeouts),
arriving as a Poisson process at `rate` requests/s per Locust user: open
loop, so a slow target shows as latency measured from the intended send
time instead of as fewer requests."""

from harness.load.openloop import OpenLoopCompletionUser
from harness.load.prompts import LengthDistribution
from harness.load.traffic import TrafficMix


class BatchCompletions(OpenLoopCompletionUser):
    stream = False
    arrival = "poisson"
    rate = 2.0
    max_tokens = 256
    prompt_lengths = LengthDistribution("normal", mean=400, spread=100, minimum=50)
    traffic = TrafficMix(batch_share=1.0)
