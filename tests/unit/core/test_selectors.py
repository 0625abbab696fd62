import pytest

from harness.selectors import SelectorError, parse_selector, selector_of

LABELS = {"app": "llm-chat", "region": "us-east", "version": "v1"}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", True),
        ("app=llm-chat", True),
        ("app==llm-chat", True),
        ("app=llm-embed", False),
        ("app=llm-chat,region=us-west", False),
        ("region!=us-west", True),
        ("region!=us-east", False),
        ("pool!=premium", True),  # absent label satisfies !=, as in Kubernetes
        ("version in (v1, v2)", True),
        ("version notin (v1)", False),
        ("app", True),
        ("!pool", True),
        ("!app", False),
        ("app=llm-chat, version in (v2,v3)", False),
    ],
)
def test_selector_matching(text: str, expected: bool) -> None:
    assert parse_selector(text).matches(LABELS) is expected


def test_mapping_form_and_round_trip() -> None:
    sel = parse_selector({"app": "llm-chat", "region": "us-east"})
    assert sel.matches(LABELS)
    assert str(sel) == "app=llm-chat,region=us-east"
    assert parse_selector(str(sel)) == sel


@pytest.mark.parametrize("bad", ["app=a=b", "app=llm-chat,", "version in ()", "app=a b", "=x"])
def test_bad_selectors_name_the_problem(bad: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_selector(bad)
    assert "selector" in str(info.value)


def test_kubernetes_selector_objects_with_match_expressions() -> None:
    sel = selector_of({"matchLabels": {"app": "llm-chat"},
                       "matchExpressions": [{"key": "version", "operator": "In", "values": ["v1", "v2"]},
                                            {"key": "canary", "operator": "DoesNotExist"}]})
    assert sel.matches(LABELS)
    assert not sel.matches({**LABELS, "canary": "yes"})
    assert not sel.matches({**LABELS, "version": "v3"})
    with pytest.raises(SelectorError, match="'Within' is not one of"):
        selector_of({"matchExpressions": [{"key": "version", "operator": "Within", "values": ["v1"]}]})
