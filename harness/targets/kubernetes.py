"""A real cluster as a chaos target, through the official Kubernetes client.

Pods by namespace and label selector, deletion with a grace period, scaling
through the Scale subresource, exec into a container, Istio objects through
the custom-objects API (`networking.istio.io/v1`). Chaos only touches
namespaces labelled `chaos.llm-mesh.dev/allowed=true`.

No cluster runs where this project is built: this driver is tested against
the API contract (the paths, verbs and bodies it sends, answered by a local
test server), not against a live API server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.targets.base import PLURALS, IstioKind, NothingMatched, PodInfo, TargetError, TargetUnsupported

__all__ = ["KubernetesTarget", "ALLOW_LABEL", "NETWORK_POLICY_PREFIX"]

ALLOW_LABEL = "chaos.llm-mesh.dev/allowed"
NETWORK_POLICY_PREFIX = "harness-blackhole-"
REGION_LABEL = "region"


@dataclass
class KubernetesTarget:
    api_client: Any  # kubernetes.client.ApiClient
    namespace: str = "llm"
    name: str = "kubernetes"
    _allowed: set[str] = field(default_factory=set)

    @classmethod
    def from_config(cls, namespace: str, kubeconfig: str | None = None, context: str | None = None) -> KubernetesTarget:
        from kubernetes import client
        from kubernetes import config as kube_config

        config: Any = kube_config  # the client's loaders carry no type information
        try:
            if kubeconfig or context:
                config.load_kube_config(config_file=kubeconfig, context=context)
            else:
                try:
                    config.load_incluster_config()
                except kube_config.ConfigException:
                    config.load_kube_config()
        except Exception as exc:  # the client raises several types for a missing/bad kubeconfig
            raise TargetError(f"no usable Kubernetes configuration: {exc} (set harness_kubeconfig / "
                              "harness_kube_context or KUBECONFIG)") from None
        return cls(client.ApiClient(), namespace)

    # -- API groups ----------------------------------------------------------------
    @property
    def core(self) -> Any:
        from kubernetes import client
        return client.CoreV1Api(self.api_client)

    @property
    def apps(self) -> Any:
        from kubernetes import client
        return client.AppsV1Api(self.api_client)

    @property
    def custom(self) -> Any:
        from kubernetes import client
        return client.CustomObjectsApi(self.api_client)

    @property
    def networking(self) -> Any:
        from kubernetes import client
        return client.NetworkingV1Api(self.api_client)

    def _api(self, what: str, fn: Any, *args: Any, missing_ok: bool = False, **kwargs: Any) -> Any:
        """Call the API; its refusals and connection failures become TargetError
        (anything else is a defect and propagates as it is). With `missing_ok`,
        a 404 answers None."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise TargetError(f"{what}: {exc.status} {exc.reason}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # refused, reset, timed out, TLS, DNS
            raise TargetError(f"{what}: the API server is unreachable ({exc})") from None

    # -- guards ------------------------------------------------------------------------
    def check_namespace_allowed(self, namespace: str) -> None:
        if namespace in self._allowed:
            return
        ns = self._api(f"read namespace {namespace}", self.core.read_namespace, namespace)
        labels = (ns.metadata.labels or {}) if ns.metadata else {}
        if labels.get(ALLOW_LABEL) != "true":
            raise TargetError(f"namespace {namespace!r} is not open to chaos: label it with "
                              f"`kubectl label namespace {namespace} {ALLOW_LABEL}=true`")
        self._allowed.add(namespace)

    # -- pods ----------------------------------------------------------------------------
    def list_pods(self, selector: str, namespace: str | None = None) -> list[PodInfo]:
        ns = namespace or self.namespace
        self.check_namespace_allowed(ns)
        items = self._api(f"list pods {selector!r} in {ns}", self.core.list_namespaced_pod, ns,
                          label_selector=selector).items
        pods = []
        for p in items:
            statuses = p.status.container_statuses or [] if p.status else []
            ready = any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or [])) \
                if p.status else False
            labels = p.metadata.labels or {}
            pods.append(PodInfo(name=p.metadata.name, namespace=ns, labels=labels, ready=ready,
                                phase=(p.status.phase if p.status else "Unknown") or "Unknown",
                                region=labels.get(REGION_LABEL), restarts=sum(c.restart_count for c in statuses)))
        if not pods:
            raise NothingMatched(f"selector {selector!r} matches no pod in namespace {ns!r}")
        return pods

    def delete_pod(self, name: str, grace_period_s: float = 0, namespace: str | None = None) -> None:
        ns = namespace or self.namespace
        self.check_namespace_allowed(ns)
        self._api(f"delete pod {ns}/{name}", self.core.delete_namespaced_pod, name, ns,
                  grace_period_seconds=int(grace_period_s))

    def exec(self, pod: str, command: list[str], container: str | None = None, namespace: str | None = None) -> str:
        from kubernetes.stream import stream

        ns = namespace or self.namespace
        self.check_namespace_allowed(ns)
        kwargs: dict[str, Any] = {"command": command, "stderr": True, "stdin": False, "stdout": True, "tty": False}
        if container:
            kwargs["container"] = container
        return str(self._api(f"exec in {ns}/{pod}", stream, self.core.connect_get_namespaced_pod_exec, pod, ns,
                             **kwargs))

    # -- deployments -----------------------------------------------------------------------
    def deployments(self, selector: str, namespace: str | None = None) -> dict[str, int]:
        ns = namespace or self.namespace
        items = self._api(f"list deployments {selector!r} in {ns}", self.apps.list_namespaced_deployment, ns,
                          label_selector=selector).items
        return {d.metadata.name: d.spec.replicas for d in items}

    def scale(self, deployment: str, replicas: int, namespace: str | None = None) -> int:
        ns = namespace or self.namespace
        self.check_namespace_allowed(ns)
        current = self._api(f"read scale {ns}/{deployment}", self.apps.read_namespaced_deployment_scale,
                            deployment, ns)
        self._api(f"scale {ns}/{deployment}", self.apps.patch_namespaced_deployment_scale, deployment, ns,
                  {"spec": {"replicas": replicas}})
        return int(current.spec.replicas)

    # -- Istio -------------------------------------------------------------------------------
    def get_istio(self, kind: IstioKind, name: str, namespace: str | None = None) -> dict[str, Any]:
        ns = namespace or self.namespace
        return _object(self._api(f"get {kind} {ns}/{name}", self.custom.get_namespaced_custom_object,
                                 "networking.istio.io", "v1", ns, PLURALS[kind], name))

    def replace_istio(self, kind: IstioKind, name: str, obj: dict[str, Any],
                      namespace: str | None = None) -> dict[str, Any]:
        ns = namespace or self.namespace
        self.check_namespace_allowed(ns)
        return _object(self._api(f"replace {kind} {ns}/{name}", self.custom.replace_namespaced_custom_object,
                                 "networking.istio.io", "v1", ns, PLURALS[kind], name, obj))

    # -- autoscaling ------------------------------------------------------------------------
    # through the generic object API, so the object stays the plain JSON both targets speak
    def get_hpa(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        ns = namespace or self.namespace
        return _object(self._api(f"get HorizontalPodAutoscaler {ns}/{name}", self.custom.get_namespaced_custom_object,
                                 "autoscaling", "v2", ns, "horizontalpodautoscalers", name))

    def replace_hpa(self, name: str, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        ns = namespace or self.namespace
        self.check_namespace_allowed(ns)
        return _object(self._api(f"replace HorizontalPodAutoscaler {ns}/{name}",
                                 self.custom.replace_namespaced_custom_object,
                                 "autoscaling", "v2", ns, "horizontalpodautoscalers", name, obj))

    # -- engine faults ------------------------------------------------------------------------
    def engine_fault(self, pod: PodInfo, fault: dict[str, Any]) -> None:
        if fault.get("kind") == "gpu_oom":
            seconds = int(fault.get("hold_s", 60))
            # A GPU memory hog in the serving container (needs python3 + torch there,
            # as vLLM images have): allocate until CUDA fails, hold, release.
            script = ("import torch,time\nblocks=[]\ntry:\n    while True: blocks.append(torch.empty(256*2**20, "
                      f"dtype=torch.uint8, device='cuda'))\nexcept RuntimeError: pass\ntime.sleep({seconds})")
            # Detached, so the exec returns at once and the hog lives on for its hold time.
            quoted = script.replace("'", "'\\''")
            self.exec(pod.name, ["sh", "-c", f"nohup python3 -c '{quoted}' >/dev/null 2>&1 &"],
                      namespace=pod.namespace)
            return
        raise TargetUnsupported(f"engine fault {fault.get('kind')!r} needs the engine simulator's admin endpoint; "
                                "on a cluster use inject_abort / inject_latency (Istio faults) instead")

    def clear_engine_fault(self, pod: PodInfo, kind: str | None = None) -> None:
        return None  # the GPU hog ends by itself after its hold time

    def engine_faults(self, pod: PodInfo) -> dict[str, Any]:
        return {}

    # -- regions --------------------------------------------------------------------------------
    def region_down(self, region: str, mode: str) -> dict[str, Any]:
        selector = f"{REGION_LABEL}={region}"
        if mode == "kill":
            before = self.deployments(selector)
            if not before:
                raise NothingMatched(f"no deployment labelled {selector} in {self.namespace!r}")
            for name in before:
                self.scale(name, 0)
            return {"region": region, "replicas": before}
        if mode == "blackhole":
            self.check_namespace_allowed(self.namespace)
            name = NETWORK_POLICY_PREFIX + region
            policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                      "metadata": {"name": name, "namespace": self.namespace,
                                   "labels": {"app.kubernetes.io/managed-by": "llm-mesh-harness"}},
                      "spec": {"podSelector": {"matchLabels": {REGION_LABEL: region}},
                               "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []}}
            self._api(f"create NetworkPolicy for {region}", self.networking.create_namespaced_network_policy,
                      self.namespace, policy)
            return {"region": region, "network_policy": name}
        raise TargetError(f"region_outage mode {mode!r}: use kill or blackhole")

    def region_outage_missing(self, region: str, mode: str, undo: dict[str, Any]) -> str | None:
        """`kill`: no pod of the region is ready; `blackhole`: the deny-all
        NetworkPolicy exists (what the CNI does with it is the cluster's part)."""
        if mode == "blackhole":
            name = str(undo.get("network_policy", NETWORK_POLICY_PREFIX + region))
            found = self._api(f"read NetworkPolicy {self.namespace}/{name}",
                              self.networking.read_namespaced_network_policy, name, self.namespace, missing_ok=True)
            return None if found is not None else f"NetworkPolicy {self.namespace}/{name} does not exist"
        try:
            pods = self.list_pods(f"{REGION_LABEL}={region}")
        except NothingMatched:
            return None
        ready = [p.name for p in pods if p.ready]
        return f"pods still ready in {region}: {', '.join(ready)}" if ready else None

    def region_up(self, region: str, undo: dict[str, Any]) -> None:
        for name, replicas in (undo.get("replicas") or {}).items():
            self.scale(name, replicas)
        if undo.get("network_policy"):
            # missing_ok: an undo replayed after an interrupted rollback finds it already gone
            self._api(f"delete NetworkPolicy {undo['network_policy']}",
                      self.networking.delete_namespaced_network_policy, undo["network_policy"], self.namespace,
                      missing_ok=True)


def _object(value: Any) -> dict[str, Any]:
    """A custom object as the API returned it (a JSON object)."""
    if not isinstance(value, dict):
        raise TargetError(f"the API server answered {type(value).__name__}, not an object")
    return value
