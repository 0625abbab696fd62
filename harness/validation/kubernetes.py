"""`harness validate` for Kubernetes manifests: schemas from the maintained
`kubernetes-validate` package (strict: unknown fields are errors), then
cross-references across every manifest found (Services and PDBs select pods,
HPAs target a workload). Istio objects among them are judged by the Istio
rules (`harness.istio`), with these manifests' Services and pods as what the
routes may name. Kustomize patch files are partial objects and are not
schema-checked on their own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.diagnostics import Diagnostic, Severity, field_path
from harness.istio.hosts import DEFAULT_NAMESPACE
from harness.istio.kinds import group_of
from harness.istio.registry import ServiceRegistry
from harness.selectors import LabelSelector, SelectorError, selector_of
from harness.validation import Checked, register
from harness.yamlsource import SourceDocument, load_documents

__all__ = ["validate_kubernetes", "K8S_VERSION", "Manifest", "cross_reference", "read_manifests", "service_registry"]

K8S_VERSION = "1.30"
# The harness's own kinds (LocalTopology, ServiceLevelObjectives) have their own
# validators; a Kustomization is kustomize's input, not an object.
_OWN_GROUP = "harness.llm-mesh.dev"
_SKIP_KINDS = {"Kustomization"}
_CRD_GROUPS = ("networking.istio.io", "security.istio.io", "telemetry.istio.io", "monitoring.coreos.com")


@dataclass
class Manifest:
    file: str
    doc: SourceDocument

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.doc.data  # read_manifests keeps mappings only
        return data

    @property
    def kind(self) -> str:
        return str(self.data.get("kind"))

    @property
    def name(self) -> str:
        return str((self.data.get("metadata") or {}).get("name", "?"))

    @property
    def namespace(self) -> str:
        return str((self.data.get("metadata") or {}).get("namespace") or DEFAULT_NAMESPACE)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    def diag(self, severity: Severity, message: str, field: str | None = None, fix: str | None = None,
             loc: tuple[object, ...] = ()) -> Diagnostic:
        return Diagnostic(severity, self.file, message, field=field, object=self.ref, fix=fix,
                          line=self.doc.line(loc) if loc else self.doc.line(()))


def _kustomizations(files: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for f in files:
        if f.name not in ("kustomization.yaml", "kustomization.yml"):
            continue
        try:
            k = yaml.safe_load(f.read_text()) or {}
        except yaml.YAMLError:
            continue
        if isinstance(k, dict):
            out.append((f, k))
    return out


def _overlay_labels(files: list[Path]) -> list[dict[str, str]]:
    """`commonLabels` / `labels` the kustomizations add: a pod deployed through an
    overlay carries them (a region label, for example)."""
    out = []
    for _, k in _kustomizations(files):
        if isinstance(k.get("commonLabels"), dict):
            out.append({str(a): str(b) for a, b in k["commonLabels"].items()})
        for entry in k.get("labels") or []:
            if isinstance(entry, dict) and isinstance(entry.get("pairs"), dict):
                out.append({str(a): str(b) for a, b in entry["pairs"].items()})
    return out


def _patch_files(files: list[Path]) -> set[Path]:
    """Files a kustomization lists as patches (partial objects)."""
    out: set[Path] = set()
    for f, k in _kustomizations(files):
        for entry in k.get("patchesStrategicMerge") or []:
            if isinstance(entry, str):
                out.add((f.parent / entry).resolve())
        for entry in (k.get("patchesJson6902") or []) + (k.get("patches") or []):
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                out.add((f.parent / entry["path"]).resolve())
    return out


def read_manifests(files: list[Path]) -> tuple[list[Manifest], list[Diagnostic]]:
    patches = _patch_files(files)
    out: list[Manifest] = []
    diags: list[Diagnostic] = []
    for f in files:
        if f.suffix not in (".yaml", ".yml") or f.resolve() in patches or f.name.startswith("kustomization."):
            continue
        try:
            docs = list(load_documents(f.read_text()))
        except (yaml.YAMLError, UnicodeDecodeError, OSError):
            continue  # other validators report unreadable YAML for the files they own
        for d in docs:
            data = d.data
            if not isinstance(data, dict) or ("apiVersion" not in data and "kind" not in data):
                continue
            if "apiVersion" not in data or "kind" not in data:
                missing = "kind" if "apiVersion" in data else "apiVersion"
                diags.append(Diagnostic("error", str(f), f"a manifest needs apiVersion and kind; '{missing}' is "
                                        "missing", field=missing, line=d.line(()), fix=f"add '{missing}'"))
                continue
            if data.get("kind") in _SKIP_KINDS or group_of(str(data["apiVersion"])) == _OWN_GROUP \
                    or "method" in data:
                continue
            out.append(Manifest(str(f), d))
    return out, diags


def _schema(m: Manifest) -> Diagnostic | None:
    import kubernetes_validate

    if group_of(str(m.data.get("apiVersion", ""))) in _CRD_GROUPS:
        return None  # custom resources: Istio's are checked by the Istio validator
    try:
        kubernetes_validate.validate(m.data, K8S_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return m.diag("warning", f"no schema for {m.data.get('apiVersion')} {m.kind} in Kubernetes {K8S_VERSION}",
                      fix="check apiVersion and kind (custom resources are not schema-checked)")
    except kubernetes_validate.ValidationError as exc:
        loc = tuple(exc.absolute_path) if hasattr(exc, "absolute_path") else ()
        message = str(getattr(exc, "message", exc)).splitlines()[0]
        fix = "remove it or correct its spelling" if "Additional properties" in message else \
            f"see the {m.kind} reference for Kubernetes {K8S_VERSION}"
        return m.diag("error", message, field=field_path(loc) or None, fix=fix, loc=loc)
    return None


def _template_labels(m: Manifest) -> dict[str, str]:
    tpl = ((m.data.get("spec") or {}).get("template") or {}).get("metadata") or {}
    return {str(k): str(v) for k, v in (tpl.get("labels") or {}).items()}


def _service_selector(m: Manifest) -> dict[str, str]:
    return {str(k): str(v) for k, v in ((m.data.get("spec") or {}).get("selector") or {}).items()}


def _pod_labels(manifests: list[Manifest], overlay_labels: list[dict[str, str]] | None) -> list[dict[str, str]]:
    """The label sets pods of these workloads may carry, directly or through an overlay."""
    base = [_template_labels(m) for m in manifests if m.kind in ("Deployment", "StatefulSet")]
    return base + [{**labels, **extra} for labels in base for extra in overlay_labels or []]


def _selects_pods(selector: LabelSelector, pods: list[dict[str, str]]) -> bool:
    return any(selector.matches(labels) for labels in pods)


def cross_reference(manifests: list[Manifest], overlay_labels: list[dict[str, str]] | None = None
                    ) -> list[Diagnostic]:
    """Services and PDBs select pods, HPAs target workloads (Istio objects are
    judged by the Istio rules, with these manifests as their registry)."""
    out: list[Diagnostic] = []
    has_workloads = any(m.kind in ("Deployment", "StatefulSet") for m in manifests)
    pods = _pod_labels(manifests, overlay_labels)
    for s in (m for m in manifests if m.kind == "Service"):
        sel = _service_selector(s)
        if sel and has_workloads and not _selects_pods(LabelSelector.from_labels(sel), pods):
            out.append(s.diag("error", f"selector {sel} matches no Deployment's pods", field="spec.selector",
                              fix="match the pod template labels of a Deployment", loc=("spec", "selector")))
    names = {m.name for m in manifests if m.kind in ("Deployment", "StatefulSet")}
    for h in (m for m in manifests if m.kind == "HorizontalPodAutoscaler"):
        ref = (h.data.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("name") not in names:
            out.append(h.diag("error", f"scaleTargetRef {ref.get('kind')}/{ref.get('name')} does not exist",
                              field="spec.scaleTargetRef.name", fix=f"name one of {sorted(names)}",
                              loc=("spec", "scaleTargetRef", "name")))
    for p in (m for m in manifests if m.kind == "PodDisruptionBudget"):
        raw = (p.data.get("spec") or {}).get("selector")
        if not isinstance(raw, dict) or not raw:
            continue
        try:
            selector = selector_of(raw)
        except SelectorError as exc:
            out.append(p.diag("error", str(exc), field="spec.selector", fix="use In, NotIn, Exists or DoesNotExist",
                              loc=("spec", "selector")))
            continue
        if not _selects_pods(selector, pods):
            out.append(p.diag("error", f"selector {selector} matches no Deployment's pods", field="spec.selector",
                              fix="match the pod template labels of a Deployment", loc=("spec", "selector")))
    return out


def service_registry(files: list[Path]) -> ServiceRegistry | None:
    """The Services and pods among these manifests, for the Istio rules; None
    when the files hold no Service."""
    manifests, _ = read_manifests(files)
    services = {(m.namespace, m.name): _service_selector(m) for m in manifests if m.kind == "Service"}
    if not services:
        return None
    has_workloads = any(m.kind in ("Deployment", "StatefulSet") for m in manifests)
    pods = _pod_labels(manifests, _overlay_labels(files)) if has_workloads else None
    return ServiceRegistry.of(services, pods, origin="these manifests")


def validate_kubernetes(files: list[Path]) -> Checked:
    manifests, diags = read_manifests(files)
    for m in manifests:
        d = _schema(m)
        if d is not None:
            diags.append(d)
    if any(m.kind in ("Deployment", "Service", "HorizontalPodAutoscaler") for m in manifests):
        diags += cross_reference(manifests, _overlay_labels(files))
    return Checked.of([Path(m.file) for m in manifests] + [Path(d.file) for d in diags], diags)


register("kubernetes", validate_kubernetes)
