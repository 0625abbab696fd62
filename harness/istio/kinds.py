"""The Istio kinds the harness reads: API group, served versions and model.
A new kind is one model module plus one entry here."""

from __future__ import annotations

from dataclasses import dataclass

from harness.istio.base import IstioModel
from harness.istio.destination_rule import DestinationRule
from harness.istio.service_entry import ServiceEntry
from harness.istio.virtual_service import VirtualService

__all__ = ["API_GROUP", "GROUPS", "KINDS", "Kind", "MODERN_VERSION", "OLD_VERSIONS", "PLAYED_LOCALLY",
           "IstioObject", "group_of"]

API_GROUP = "networking.istio.io"
MODERN_VERSION = f"{API_GROUP}/v1"
OLD_VERSIONS = frozenset({f"{API_GROUP}/v1alpha3", f"{API_GROUP}/v1beta1"})

IstioObject = VirtualService | DestinationRule | ServiceEntry


@dataclass(frozen=True)
class Kind:
    model: type[IstioModel]
    modern: str  # the apiVersion to write
    deprecated: frozenset[str]  # older apiVersions still served

    def serves(self, api_version: str) -> bool:
        return api_version == self.modern or api_version in self.deprecated


def group_of(api_version: str) -> str:
    """`networking.istio.io/v1` -> `networking.istio.io` (the core group is '')."""
    return api_version.split("/")[0] if "/" in api_version else ""


# (API group, kind) -> how to read it. Keyed by group too: gateway.networking.k8s.io
# has a Gateway of its own, which is not Istio's.
KINDS: dict[tuple[str, str], Kind] = {
    (API_GROUP, "VirtualService"): Kind(VirtualService, MODERN_VERSION, OLD_VERSIONS),
    (API_GROUP, "DestinationRule"): Kind(DestinationRule, MODERN_VERSION, OLD_VERSIONS),
    (API_GROUP, "ServiceEntry"): Kind(ServiceEntry, MODERN_VERSION, OLD_VERSIONS),
}
# API groups whose objects the loader reads; any other group in the same files
# (Deployments, Services...) belongs to other validators.
GROUPS = frozenset(group for group, _ in KINDS)
# Kinds the local stack plays by other means: the ingress Gateway is the local gateway process.
PLAYED_LOCALLY = frozenset({(API_GROUP, "Gateway")})
