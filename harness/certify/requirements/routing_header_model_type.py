"""Large-model requests (x-model-type: large) are served by llm-chat-large."""

from harness.certify.requirements._routing import header_route

REQUIREMENT = header_route(
    id="routing.header-model-type",
    title="Large-model requests (x-model-type: large) are served by llm-chat-large",
    header="x-model-type", value="large", dimension="service", service="llm-chat-large", expected="llm-chat-large",
    rule="large-model", model="llama-3-70b")
