from harness.yamlsource import load_documents

TEXT = """\
apiVersion: v1
kind: A
spec:
  http:
  - route:
    - destination: {host: a}
      match: x
---
kind: B
"""


def test_lines_follow_the_path() -> None:
    first, second = list(load_documents(TEXT))
    assert first.data["kind"] == "A" and second.data["kind"] == "B" and second.index == 1
    assert first.line(("spec", "http", 0, "route", 0, "match")) == 7
    assert first.line(("spec",)) == 3
    # a path that leaves the document stops at the deepest existing node
    assert first.line(("spec", "http", 0, "nope", 3)) == 5
    assert second.line(("kind",)) == 9


def test_parse_field_path() -> None:
    from harness.yamlsource import parse_field_path

    assert parse_field_path("deployments[2].engine.seed") == ("deployments", 2, "engine", "seed")
    assert parse_field_path("spec.http[0].route[10]") == ("spec", "http", 0, "route", 10)
