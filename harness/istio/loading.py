"""Turn files of Istio YAML into a `MeshConfig` and one clear diagnostic per
problem (file, line, object, field, fix), then judge it with the lint rules."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.diagnostics import ConfigError, Diagnostic, errors_only, from_validation_error
from harness.istio import rules
from harness.istio.config import MeshConfig, Source
from harness.istio.kinds import GROUPS, KINDS, PLAYED_LOCALLY, IstioObject, group_of
from harness.istio.lint import lint
from harness.istio.registry import ServiceRegistry
from harness.yamlsource import SourceDocument, load_documents, yaml_error

__all__ = ["load_mesh_config", "mesh_diagnostics", "yaml_files"]

# Mistakes common enough to deserve a precise fix: (parent field, unknown child) -> fix.
_FIXES = {
    ("route", "match"): "move 'match' up to the http[] rule; a route destination has only destination, weight "
                        "and headers (without strict validation the match is dropped and the destination gets "
                        "its share unconditionally)",
    ("subsets", "weight"): "subsets have only name, labels and trafficPolicy; put weights on the VirtualService's "
                           "http[].route[].weight",
}


def _refine(d: Diagnostic, loc: tuple[Any, ...]) -> Diagnostic:
    names = [p for p in loc if isinstance(p, str)]
    for (parent, child), fix in _FIXES.items():
        if len(names) >= 2 and names[-1] == child and parent in names[:-1] and d.message.startswith("unknown field"):
            return dataclasses.replace(d, fix=fix)
    return d


def yaml_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file()))
        else:
            out.append(p)
    return out


def _parse(file: str, doc: SourceDocument, data: dict[str, Any]) -> tuple[IstioObject | None, list[Diagnostic]]:
    """The typed object of one document of a group the loader reads, or why not."""
    api, kind = str(data.get("apiVersion", "")), str(data.get("kind"))
    group = group_of(api)
    meta = data.get("metadata")
    name = f"{kind}/{meta.get('name', '?') if isinstance(meta, dict) else '?'}"
    if (group, kind) in PLAYED_LOCALLY:
        return None, []
    spec = KINDS.get((group, kind))
    if spec is None:
        return None, [rules.KIND_NOT_EMULATED.report(
            file, f"{kind} is not emulated by the local proxy", object=name, line=doc.line(()),
            fix=f"the local stack reads {', '.join(k for g, k in KINDS if g == group)} only")]
    if not spec.serves(api):
        return None, [rules.UNKNOWN_API_VERSION.report(
            file, f"unknown apiVersion {api}", field="apiVersion", object=name, line=doc.line(("apiVersion",)),
            fix=f"use {spec.modern}")]
    try:
        obj: IstioObject = spec.model.model_validate(data)  # type: ignore[assignment]
    except ValidationError as exc:
        found = from_validation_error(exc, file, object=name, locate=doc.line)
        return None, [dataclasses.replace(_refine(d, tuple(e["loc"])), rule=rules.SCHEMA.id)
                      for d, e in zip(found, exc.errors(include_url=False), strict=True)]
    return obj, []


def _documents(path: Path) -> tuple[list[SourceDocument], list[Diagnostic]]:
    file = str(path)
    try:
        return list(load_documents(path.read_text())), []
    except (OSError, UnicodeDecodeError) as exc:
        return [], [rules.YAML_SYNTAX.report(file, f"cannot read the file: {exc}", fix="check the path")]
    except yaml.YAMLError as exc:
        return [], [dataclasses.replace(yaml_error(file, exc), rule=rules.YAML_SYNTAX.id)]


def mesh_diagnostics(paths: list[Path], registry: ServiceRegistry | None = None
                     ) -> tuple[MeshConfig, list[Diagnostic]]:
    """Parse every Istio object under `paths` and judge it with every rule;
    return the config of the valid objects and every diagnostic."""
    config = MeshConfig()
    diags: list[Diagnostic] = []
    seen: dict[tuple[str, str, str], str] = {}
    for path in yaml_files(paths):
        file = str(path)
        config.files.append(file)
        docs, problems = _documents(path)
        diags += problems
        for doc in docs:
            data = doc.data
            if data is None:
                continue
            if not isinstance(data, dict):
                diags.append(rules.YAML_SYNTAX.report(
                    file, "a document must be a mapping with apiVersion, kind, metadata and spec",
                    line=doc.line(()), fix="check the indentation"))
                continue
            if group_of(str(data.get("apiVersion", ""))) not in GROUPS:
                continue  # other resources (Deployments, Services...) may share the directory
            obj, problems = _parse(file, doc, data)
            diags += problems
            if obj is None:
                continue
            key = (obj.kind, obj.metadata.namespace or "", obj.metadata.name)
            if key in seen:
                diags.append(rules.DUPLICATE_NAME.report(
                    file, f"duplicate {obj.kind} name '{obj.metadata.name}' (first in {seen[key]})",
                    field="metadata.name", object=f"{obj.kind}/{obj.metadata.name}",
                    line=doc.line(("metadata", "name")), fix="give each object its own name"))
                continue
            seen[key] = file
            config.add(obj, Source(file, doc))
    diags += lint(config, registry)
    config.warnings = [d for d in diags if d.severity == "warning"]
    return config, diags


def load_mesh_config(paths: list[Path], registry: ServiceRegistry | None = None) -> MeshConfig:
    """The valid config, or ConfigError naming every error (file, object, field, fix)."""
    if not yaml_files(paths):
        raise ConfigError(Diagnostic("error", ", ".join(map(str, paths)), "no YAML files found",
                                     fix="pass a directory holding VirtualService/DestinationRule YAML"))
    config, diags = mesh_diagnostics(paths, registry)
    errors = errors_only(diags)
    if errors:
        raise ConfigError(errors)
    return config
