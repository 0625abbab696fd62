"""Multi-turn conversations pinned to a user id (KV-cache affinity).

Each Locust user is one of 50 end users (`x-user-id: user-N`, fixed for the
user's life) and holds a conversation: every turn resends the history (a
growing shared prefix) and appends the model's answer. With the reference
mesh's consistent hash on `x-user-id`, a user's turns should keep landing
on one pod: the records' `served_pod` shows whether they did.
"""

from typing import Any

from locust import between

from harness.load.prompts import Conversation
from harness.load.records import RequestRecord
from harness.load.traffic import TrafficMix
from harness.load.users import ChatUser


class StickyConversation(ChatUser):
    max_tokens = 48
    traffic = TrafficMix(sticky_users=50)
    wait_time = between(0.5, 2.0)
    turns = 5

    def on_start(self) -> None:
        super().on_start()
        self.conversation = Conversation(seed=self.seed * 7919 + self.number, turns=self.turns)

    def build_body(self) -> dict[str, Any]:
        body = super().build_body()
        body["messages"] = self.conversation.next_messages()
        return body

    def on_record(self, record: RequestRecord, body: dict[str, Any]) -> None:
        self.conversation.record_reply(None)  # the stand-in keeps the prefix growing as a real reply would
