"""The completion API (x-task-type: completion) is pinned to the stable v1 build."""

from harness.certify.requirements._routing import header_route

REQUIREMENT = header_route(
    id="routing.header-task-type",
    title="The completion API (x-task-type: completion) is pinned to the stable v1 build",
    header="x-task-type", value="completion", dimension="version", service="llm-chat", expected="v1",
    rule="completion-api", model="llama-3-8b")
