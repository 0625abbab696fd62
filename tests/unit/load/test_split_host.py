"""httpclient.split_host: (host, port, path prefix) of an http:// base URL."""

from __future__ import annotations

import pytest

from harness.load.httpclient import split_host


@pytest.mark.parametrize("url,expected", [
    ("http://127.0.0.1:8080/base/", ("127.0.0.1", 8080, "/base")),
    ("http://127.0.0.1:8080/base", ("127.0.0.1", 8080, "/base")),
    ("http://127.0.0.1:8080/a/b/", ("127.0.0.1", 8080, "/a/b")),
    ("http://127.0.0.1:8080/", ("127.0.0.1", 8080, "")),
    ("http://127.0.0.1:8080", ("127.0.0.1", 8080, "")),
    ("http://gateway.mesh.local", ("gateway.mesh.local", 80, "")),
    ("http://gateway.mesh.local/v1", ("gateway.mesh.local", 80, "/v1")),
    ("HTTP://Gateway.Local:81", ("gateway.local", 81, "")),
    ("http://[::1]:9000/x/", ("::1", 9000, "/x")),
])
def test_split_host(url: str, expected: tuple[str, int, str]) -> None:
    assert split_host(url) == expected


@pytest.mark.parametrize("url,expected", [
    ("127.0.0.1:8080/base/", ("127.0.0.1", 8080, "/base")),
    ("localhost:8000", ("localhost", 8000, "")),
    ("localhost", ("localhost", 80, "")),
])
def test_no_scheme_means_http(url: str, expected: tuple[str, int, str]) -> None:
    assert split_host(url) == expected


@pytest.mark.parametrize("url", ["https://127.0.0.1:8443/", "https://api.example.com", "ftp://host/"])
def test_only_http_is_supported(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        split_host(url)


def test_no_host_raises() -> None:
    with pytest.raises(ValueError):
        split_host("http:///path")
