"""Batch jobs (x-request-type: batch) run on the standard pool."""

from harness.certify.requirements._routing import header_route

REQUIREMENT = header_route(
    id="routing.header-request-type",
    title="Batch jobs (x-request-type: batch) run on the standard pool",
    header="x-request-type", value="batch", dimension="subset", service="llm-chat", expected="standard",
    rule="batch")
