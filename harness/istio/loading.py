"""Turn files of Istio YAML into a `MeshConfig` and one clear diagnostic per
problem (file, line, object, field, fix)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from harness.diagnostics import ConfigError, Diagnostic, errors_only, from_validation_error
from harness.istio.config import MeshConfig, Source
from harness.istio.destination_rule import DestinationRule
from harness.istio.hosts import short_host
from harness.istio.kinds import API_GROUP, MODERN_VERSION, OLD_VERSIONS
from harness.istio.lint import object_diagnostics
from harness.istio.virtual_service import VirtualService
from harness.yamlsource import load_documents

__all__ = ["load_mesh_config", "mesh_diagnostics"]

_FIXES = {
    ("route", "match"): "move 'match' up to the http[] rule; a route destination has only destination, weight "
                        "and headers (without strict validation the match is dropped and the destination gets "
                        "its share unconditionally)",
    ("subsets", "weight"): "subsets have only name, labels and trafficPolicy; put weights on the VirtualService's "
                           "http[].route[].weight",
}


def _refine(d: Diagnostic, loc: tuple) -> Diagnostic:
    names = [p for p in loc if isinstance(p, str)]
    for (parent, child), fix in _FIXES.items():
        if len(names) >= 2 and names[-1] == child and parent in names[:-1] and d.message.startswith("unknown field"):
            return Diagnostic(d.severity, d.file, d.message, d.field, d.object, fix, d.line)
    return d


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file()))
        else:
            out.append(p)
    return out

def mesh_diagnostics(paths: list[Path]) -> tuple[MeshConfig, list[Diagnostic]]:
    """Parse every VirtualService/DestinationRule under `paths`; return the
    config of the valid objects and every diagnostic (errors and warnings)."""
    config = MeshConfig()
    diags: list[Diagnostic] = []
    seen: dict[tuple[str, str, str], str] = {}
    for path in _files(paths):
        file = str(path)
        config.files.append(file)
        try:
            docs = list(load_documents(path.read_text()))
        except (OSError, UnicodeDecodeError) as exc:
            diags.append(Diagnostic("error", file, f"cannot read the file: {exc}", fix="check the path"))
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            diags.append(Diagnostic("error", file, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                    line=mark.line + 1 if mark else None, fix="correct the YAML syntax"))
            continue
        for doc in docs:
            data = doc.data
            if data is None:
                continue
            if not isinstance(data, dict):
                diags.append(Diagnostic("error", file, "a document must be a mapping with apiVersion, kind, "
                                        "metadata and spec", line=doc.line(()), fix="check the indentation"))
                continue
            api, kind = str(data.get("apiVersion", "")), data.get("kind")
            if not api.startswith(API_GROUP + "/"):
                continue  # other resources (Deployments, Services...) may share the directory
            meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
            name = f"{kind}/{meta.get('name', '?')}"
            if kind == "Gateway":
                continue  # the ingress listener itself; the local gateway process plays its part
            if kind not in ("VirtualService", "DestinationRule"):
                diags.append(Diagnostic("warning", file, f"{kind} is not emulated by the local proxy", object=name,
                                        line=doc.line(()), fix="the local stack reads VirtualService and "
                                        "DestinationRule only"))
                continue
            if api != MODERN_VERSION and api not in OLD_VERSIONS:
                diags.append(Diagnostic("error", file, f"unknown apiVersion {api}", field="apiVersion", object=name,
                                        line=doc.line(("apiVersion",)), fix=f"use {MODERN_VERSION}"))
                continue
            model = VirtualService if kind == "VirtualService" else DestinationRule
            try:
                obj = model.model_validate(data)
            except ValidationError as exc:
                for d, e in zip(from_validation_error(exc, file, object=name, locate=doc.line),
                                exc.errors(include_url=False), strict=True):
                    diags.append(_refine(d, tuple(e["loc"])))
                continue
            key = (kind, obj.metadata.namespace or "", obj.metadata.name)
            if key in seen:
                diags.append(Diagnostic("error", file, f"duplicate {kind} name '{obj.metadata.name}' (first in "
                                        f"{seen[key]})", field="metadata.name", object=name,
                                        line=doc.line(("metadata", "name")), fix="give each object its own name"))
                continue
            seen[key] = file
            config.sources[(kind, obj.metadata.name)] = file
            src = Source(file, doc)
            diags.extend(object_diagnostics(obj, src))
            if isinstance(obj, VirtualService):
                config.virtual_services.append(obj)
            else:
                config.destination_rules.append(obj)
    hosts: dict[str, str] = {}
    for dr in config.destination_rules:
        h = short_host(dr.spec.host)
        if h in hosts:
            diags.append(Diagnostic("warning", config.sources.get(("DestinationRule", dr.metadata.name), ""),
                                    f"DestinationRules {hosts[h]} and {dr.metadata.name} both set host "
                                    f"{h}; Istio uses the oldest", object=f"DestinationRule/{dr.metadata.name}",
                                    fix="merge them into one"))
        hosts[h] = dr.metadata.name
    config.warnings = [d for d in diags if d.severity == "warning"]
    return config, diags


def load_mesh_config(paths: list[Path]) -> MeshConfig:
    """The valid config, or ConfigError naming every error (file, object, field, fix)."""
    if not _files(paths):
        raise ConfigError(Diagnostic("error", ", ".join(map(str, paths)), "no YAML files found",
                                     fix="pass a directory holding VirtualService/DestinationRule YAML"))
    config, diags = mesh_diagnostics(paths)
    errors = errors_only(diags)
    if errors:
        raise ConfigError(errors)
    return config

