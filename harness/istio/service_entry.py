"""`networking.istio.io/v1` ServiceEntry: hosts outside the mesh's Service
registry (an external LLM API as a fallback, say) that routes may name."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from harness.istio.base import IstioModel, ObjectMeta

__all__ = ["ServicePort", "WorkloadEntry", "ServiceEntrySpec", "ServiceEntry"]


class ServicePort(IstioModel):
    number: int = Field(ge=1, le=65535)
    protocol: str | None = None
    name: str | None = None
    targetPort: int | None = Field(None, ge=1, le=65535)


class WorkloadEntry(IstioModel):
    address: str | None = None
    ports: dict[str, int] | None = None
    labels: dict[str, str] | None = None
    network: str | None = None
    locality: str | None = None
    weight: int | None = Field(None, ge=0)
    serviceAccount: str | None = None


class ServiceEntrySpec(IstioModel):
    hosts: list[str] = Field(min_length=1)
    addresses: list[str] | None = None
    ports: list[ServicePort] | None = None
    location: Literal["MESH_EXTERNAL", "MESH_INTERNAL"] | None = None
    resolution: Literal["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"] | None = None
    endpoints: list[WorkloadEntry] | None = None
    workloadSelector: dict[str, Any] | None = None
    exportTo: list[str] | None = None
    subjectAltNames: list[str] | None = None


class ServiceEntry(IstioModel):
    apiVersion: str
    kind: Literal["ServiceEntry"]
    metadata: ObjectMeta
    spec: ServiceEntrySpec
    status: dict[str, Any] | None = None
