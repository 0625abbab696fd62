"""Region pinning (x-region: eu-west) serves from that region only."""

from harness.certify.requirements._routing import header_route

REQUIREMENT = header_route(
    id="routing.header-region",
    title="Region pinning (x-region: eu-west) serves from that region only",
    header="x-region", value="eu-west", dimension="region", service="llm-chat", expected="eu-west",
    rule="region-eu-west", model="llama-3-8b")
