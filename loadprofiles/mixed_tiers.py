"""Premium and standard tiers side by side, some traffic for the large model.

Premium users (1 in 5) carry `x-user-tier: premium` and land on the premium
pool; standard users carry `x-user-tier: standard`; 10 % of standard
requests ask for the large model (`x-model-type: large`). Records keep the
tier, so a suite can compare the tiers' TTFT under a fault.
"""

from locust import between

from harness.load.prompts import LengthDistribution
from harness.load.traffic import TrafficMix
from harness.load.users import ChatUser


class PremiumChat(ChatUser):
    weight = 1
    max_tokens = 96
    prompt_lengths = LengthDistribution("uniform", mean=160, spread=80)
    traffic = TrafficMix(premium_share=1.0)
    wait_time = between(0.2, 1.0)


class StandardChat(ChatUser):
    weight = 4
    max_tokens = 64
    prompt_lengths = LengthDistribution("uniform", mean=160, spread=80)
    traffic = TrafficMix(send_tier=True, large_model_share=0.1)
    wait_time = between(0.2, 1.0)
