"""Long-context requests: a shared 512-token system prompt plus a 3-6k token
document to summarise. Heavy prefill, large KV footprint: the profile that
shows KV-cache pressure (preemptions, `vllm:kv_cache_usage_perc`) and TTFT
growth under load."""

from locust import between

from harness.load.prompts import LengthDistribution
from harness.load.users import ChatUser


class LongContext(ChatUser):
    max_tokens = 128
    system_prompt_tokens = 512
    prompt_lengths = LengthDistribution("uniform", mean=4500, spread=1500, maximum=7000)
    wait_time = between(1.0, 3.0)
