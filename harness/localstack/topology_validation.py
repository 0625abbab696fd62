"""`harness validate` for local-stack topology files (kind: LocalTopology); it
lives beside the topology model and registers with `harness.validation`."""

from __future__ import annotations

from harness.localstack.topology import load_topology
from harness.validation import register_kind

register_kind("topology", "LocalTopology", load_topology)
