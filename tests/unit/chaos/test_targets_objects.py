"""An object read from a target, made fit to write back."""

from __future__ import annotations

from harness.targets.objects import writable_copy

READ = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "chat", "namespace": "llm", "labels": {"a": "b"}, "resourceVersion": "7", "uid": "u",
                     "generation": 3, "managedFields": [{}]},
        "spec": {"http": [{"name": "default"}]}, "status": {"observedGeneration": 3}}


def test_status_and_server_metadata_are_dropped_the_version_only_when_asked() -> None:
    plain = writable_copy(READ)
    assert "status" not in plain and plain["metadata"] == {"name": "chat", "namespace": "llm", "labels": {"a": "b"}}
    assert writable_copy(READ, keep_version=True)["metadata"]["resourceVersion"] == "7"


def test_the_copy_is_deep() -> None:
    copy = writable_copy(READ)
    copy["spec"]["http"][0]["fault"] = {"abort": {}}
    assert "fault" not in READ["spec"]["http"][0]
