"""The Istio API groups and versions the harness reads."""

from __future__ import annotations

__all__ = ["API_GROUP", "MODERN_VERSION", "OLD_VERSIONS"]

API_GROUP = "networking.istio.io"
MODERN_VERSION = f"{API_GROUP}/v1"
OLD_VERSIONS = {f"{API_GROUP}/v1alpha3", f"{API_GROUP}/v1beta1"}
