"""RFC 7386 JSON merge patch, as the mesh admin API applies `kubectl patch --type merge`."""

from __future__ import annotations

from harness.localstack.mesh.admin import merge_patch


def test_merge_patch_rfc7386_examples() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}}
    assert merge_patch(target, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert merge_patch({"a": ["b"]}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b"}, ["c"]) == ["c"]  # a non-object patch replaces the whole target
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert merge_patch("not an object", {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}


def test_merge_patch_leaves_the_target_untouched() -> None:
    target = {"spec": {"http": [{"timeout": "1s"}]}}
    merge_patch(target, {"spec": {"http": [{"timeout": "2s"}]}})
    assert target == {"spec": {"http": [{"timeout": "1s"}]}}
