"""Istio objects as the harness reads them, independent of where they run.

- `base`: the strict model base, metadata and durations every kind shares
- `virtual_service`, `destination_rule`, `service_entry`: one module per kind
  (`networking.istio.io/v1`); a new kind (security.istio.io,
  gateway.networking.k8s.io, inference.networking.k8s.io) is one new module
  registered in `kinds`
- `hosts`: host names and namespaces as Istio resolves them
- `config`: the objects loaded from a set of files
- `loading`: files -> `MeshConfig` + diagnostics
- `lint`: the rules judging loaded objects, used by every caller (the local
  mesh's topology check, `harness validate` on Istio and Kubernetes files)
"""
