"""Premium tier (x-user-tier: premium) is served by the premium pool."""

from harness.certify.requirements._routing import header_route

REQUIREMENT = header_route(
    id="routing.header-user-tier",
    title="Premium tier (x-user-tier: premium) is served by the premium pool",
    header="x-user-tier", value="premium", dimension="subset", service="llm-chat", expected="premium",
    rule="premium-tier", model="llama-3-8b")
