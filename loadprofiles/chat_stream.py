"""Streaming chat completions: the everyday LLM client.

    locust -f loadprofiles/chat_stream.py --host http://127.0.0.1:PORT
    harness load --profile chat_stream --headless --duration 60s

Prompts of about 200 tokens (log-normal), 64 output tokens, a short think
time between requests. No routing headers: traffic takes the catch-all
canary route of the reference mesh.
"""

from locust import between

from harness.load.prompts import LengthDistribution
from harness.load.users import ChatUser


class ChatStream(ChatUser):
    stream = True
    max_tokens = 64
    prompt_lengths = LengthDistribution("lognormal", mean=200, spread=0.6, maximum=2000)
    wait_time = between(0.1, 0.5)
