"""Complex prompts (x-prompt-complexity: high) are served by llm-chat-large."""

from harness.certify.requirements._routing import header_route

REQUIREMENT = header_route(
    id="routing.header-prompt-complexity",
    title="Complex prompts (x-prompt-complexity: high) are served by llm-chat-large",
    header="x-prompt-complexity", value="high", dimension="service", service="llm-chat-large", expected="llm-chat-large",
    rule="large-model", model="llama-3-70b")
