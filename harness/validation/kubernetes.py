"""`harness validate` for Kubernetes manifests: schemas from the maintained
`kubernetes-validate` package (strict: unknown fields are errors), then
cross-references across every manifest found (Services select pods, HPAs
and PDBs target something, VirtualService hosts and subsets exist and the
subsets' labels match pods) and Istio pitfalls (timeouts shorter than their
retries, weights not adding to 100). Kustomize patch files are partial
objects and are not schema-checked on their own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.diagnostics import Diagnostic
from harness.durations import parse_duration
from harness.validation import register
from harness.yamlsource import SourceDocument, load_documents

__all__ = ["validate_kubernetes", "K8S_VERSION", "Manifest", "cross_reference"]

K8S_VERSION = "1.30"
_SKIP_KINDS = {"LocalTopology", "Kustomization"}
_CRD_GROUPS = ("networking.istio.io", "security.istio.io", "telemetry.istio.io", "monitoring.coreos.com")


@dataclass
class Manifest:
    file: str
    doc: SourceDocument

    @property
    def data(self) -> dict[str, Any]:
        return self.doc.data

    @property
    def kind(self) -> str:
        return str(self.data.get("kind"))

    @property
    def name(self) -> str:
        return str((self.data.get("metadata") or {}).get("name", "?"))

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    def diag(self, severity: str, message: str, field: str | None = None, fix: str | None = None,
             loc: tuple = ()) -> Diagnostic:
        return Diagnostic(severity, self.file, message, field=field, object=self.ref, fix=fix,  # type: ignore[arg-type]
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


def _manifests(files: list[Path]) -> tuple[list[Manifest], list[Diagnostic]]:
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
            if not isinstance(data, dict) or "apiVersion" not in data or "kind" not in data:
                continue
            if data.get("kind") in _SKIP_KINDS or "method" in data:
                continue
            out.append(Manifest(str(f), d))
    return out, diags


def _schema(m: Manifest) -> Diagnostic | None:
    import kubernetes_validate

    group = str(m.data.get("apiVersion", "")).split("/")[0] if "/" in str(m.data.get("apiVersion", "")) else ""
    if group in _CRD_GROUPS:
        return None  # custom resources: Istio's are checked by the Istio validator
    try:
        kubernetes_validate.validate(m.data, K8S_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return m.diag("warning", f"no schema for {m.data.get('apiVersion')} {m.kind} in Kubernetes {K8S_VERSION}",
                      fix="check apiVersion and kind (custom resources are not schema-checked)")
    except kubernetes_validate.ValidationError as exc:
        loc = tuple(exc.absolute_path) if hasattr(exc, "absolute_path") else ()
        from harness.diagnostics import field_path

        message = str(getattr(exc, "message", exc)).splitlines()[0]
        fix = "remove it or correct its spelling" if "Additional properties" in message else \
            f"see the {m.kind} reference for Kubernetes {K8S_VERSION}"
        return m.diag("error", message, field=field_path(loc) or None, fix=fix, loc=loc)
    return None


def _template_labels(m: Manifest) -> dict[str, str]:
    tpl = ((m.data.get("spec") or {}).get("template") or {}).get("metadata") or {}
    return dict(tpl.get("labels") or {})


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _match_labels(sel: Any) -> dict[str, str]:
    if not isinstance(sel, dict):
        return {}
    return dict(sel.get("matchLabels") or ({} if "matchExpressions" in sel else sel))


def cross_reference(manifests: list[Manifest], overlay_labels: list[dict[str, str]] | None = None
                    ) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    workloads = [m for m in manifests if m.kind in ("Deployment", "StatefulSet")]
    pod_labels = [(m, _template_labels(m)) for m in workloads]
    pod_labels += [(m, {**labels, **extra}) for m, labels in list(pod_labels) for extra in overlay_labels or []]
    services = {m.name: m for m in manifests if m.kind == "Service"}
    for s in services.values():
        sel = dict((s.data.get("spec") or {}).get("selector") or {})
        if sel and workloads and not any(_matches(sel, labels) for _, labels in pod_labels):
            out.append(s.diag("error", f"selector {sel} matches no Deployment's pods", field="spec.selector",
                              fix="match the pod template labels of a Deployment", loc=("spec", "selector")))
    names = {m.name for m in workloads}
    for h in (m for m in manifests if m.kind == "HorizontalPodAutoscaler"):
        ref = (h.data.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("name") not in names:
            out.append(h.diag("error", f"scaleTargetRef {ref.get('kind')}/{ref.get('name')} does not exist",
                              field="spec.scaleTargetRef.name", fix=f"name one of {sorted(names)}",
                              loc=("spec", "scaleTargetRef", "name")))
    for p in (m for m in manifests if m.kind == "PodDisruptionBudget"):
        sel = _match_labels((p.data.get("spec") or {}).get("selector"))
        if sel and not any(_matches(sel, labels) for _, labels in pod_labels):
            out.append(p.diag("error", f"selector {sel} matches no Deployment's pods", field="spec.selector",
                              fix="match the pod template labels of a Deployment", loc=("spec", "selector")))
    out += _istio_cross_reference(manifests, services, pod_labels)
    return out


def _istio_cross_reference(manifests: list[Manifest], services: dict[str, Manifest],
                           pod_labels: list[tuple[Manifest, dict[str, str]]]) -> list[Diagnostic]:
    from harness.istio.hosts import short_host

    out: list[Diagnostic] = []
    drs = {short_host(str((m.data.get("spec") or {}).get("host", ""))): m for m in manifests
           if m.kind == "DestinationRule"}
    for dr_host, dr in drs.items():
        svc = services.get(dr_host)
        base = dict((svc.data.get("spec") or {}).get("selector") or {}) if svc else {}
        for i, subset in enumerate((dr.data.get("spec") or {}).get("subsets") or []):
            want = {**base, **(subset.get("labels") or {})}
            if pod_labels and not any(_matches(want, labels) for _, labels in pod_labels):
                out.append(dr.diag("error", f"subset '{subset.get('name')}' selects {want}, which no Deployment's pods "
                                   "carry", field=f"spec.subsets[{i}].labels",
                                   fix="use labels of the Deployments behind the host",
                                   loc=("spec", "subsets", i, "labels")))
    for vs in (m for m in manifests if m.kind == "VirtualService"):
        for i, rule in enumerate((vs.data.get("spec") or {}).get("http") or []):
            route = rule.get("route") or []
            for j, d in enumerate(route):
                dest = d.get("destination") or {}
                host = short_host(str(dest.get("host", "")))
                if services and host not in services:
                    out.append(vs.diag("error", f"host '{dest.get('host')}' is not a Service in these manifests",
                                       field=f"spec.http[{i}].route[{j}].destination.host",
                                       fix=f"use one of {sorted(services)}",
                                       loc=("spec", "http", i, "route", j, "destination", "host")))
                subset = dest.get("subset")
                if subset:
                    dr = drs.get(host)
                    names = [s.get("name") for s in ((dr.data.get("spec") or {}).get("subsets") or [])] if dr else []
                    if subset not in names:
                        out.append(vs.diag("error", f"subset '{subset}' of host '{host}' is not declared in a "
                                           "DestinationRule", field=f"spec.http[{i}].route[{j}].destination.subset",
                                           fix=f"declare it, or use one of {names}",
                                           loc=("spec", "http", i, "route", j, "destination", "subset")))
            weights = [d.get("weight") for d in route if d.get("weight") is not None]
            if len(route) > 1 and weights and sum(weights) != 100:
                out.append(vs.diag("warning", f"route weights sum to {sum(weights)}, not 100; Istio reads them as "
                                   "relative shares, which is easy to misread", field=f"spec.http[{i}].route",
                                   fix="make the weights add up to 100", loc=("spec", "http", i, "route")))
            out += _timeout_vs_retries(vs, i, rule)
    return out


def _timeout_vs_retries(vs: Manifest, i: int, rule: dict[str, Any]) -> list[Diagnostic]:
    retries = rule.get("retries") or {}
    try:
        timeout = parse_duration(rule["timeout"]) if rule.get("timeout") else None
        per_try = parse_duration(retries["perTryTimeout"]) if retries.get("perTryTimeout") else None
    except ValueError:
        return []  # the Istio validator reports bad durations
    attempts = retries.get("attempts", 2 if not retries else 0)
    if timeout is None or per_try is None or not attempts:
        return []
    needed = (attempts + 1) * per_try
    if timeout < needed:
        return [vs.diag("warning", f"timeout {rule['timeout']} is shorter than {attempts + 1} tries x perTryTimeout "
                        f"{retries['perTryTimeout']} = {needed:g}s: the later retries can never complete",
                        field=f"spec.http[{i}].timeout", fix="raise the timeout or lower attempts / perTryTimeout",
                        loc=("spec", "http", i, "timeout"))]
    return []


def validate_kubernetes(files: list[Path]) -> list[Diagnostic]:
    manifests, diags = _manifests(files)
    for m in manifests:
        d = _schema(m)
        if d is not None:
            diags.append(d)
    if any(m.kind in ("Deployment", "Service", "HorizontalPodAutoscaler") for m in manifests):
        diags += cross_reference(manifests, _overlay_labels(files))
    return diags


register("kubernetes", validate_kubernetes)
