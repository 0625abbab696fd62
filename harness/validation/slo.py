"""`harness validate` for SLO specs (kind: ServiceLevelObjectives)."""

from __future__ import annotations

from harness.certify.slo import SLO_KIND, load_slo
from harness.validation import register_kind

register_kind("slo", SLO_KIND, load_slo)
