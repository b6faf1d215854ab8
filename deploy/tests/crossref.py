"""Cross-reference checks over rendered Kubernetes manifests.

Every check takes the list of rendered objects (dicts, as `kubectl kustomize` prints them) and returns
a list of problems (strings); an empty list means the check passed. The tests run them on each
rendered overlay and, to show that they can fail, on deliberately broken copies.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

# Where each workload kind keeps its pod template.
POD_TEMPLATE_PATHS = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
                  "PriorityClass", "CustomResourceDefinition"}


# -- objects and pods ------------------------------------------------------------------------------

def name(obj: Obj) -> str:
    return obj.get("metadata", {}).get("name", "")


def namespace(obj: Obj) -> str:
    return obj.get("metadata", {}).get("namespace", "default")


def ref(obj: Obj) -> str:
    return f"{obj.get('kind')}/{name(obj)}"


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


@dataclass
class Pod:
    """A pod template of a workload."""

    owner: Obj
    template: Obj

    @property
    def ref(self) -> str:
        return ref(self.owner)

    @property
    def namespace(self) -> str:
        return namespace(self.owner)

    @property
    def labels(self) -> dict[str, str]:
        return dig(self.template, "metadata", "labels") or {}

    @property
    def spec(self) -> Obj:
        return self.template.get("spec") or {}

    def containers(self, init: bool = True) -> list[Obj]:
        found = list(self.spec.get("containers") or [])
        if init:
            found += list(self.spec.get("initContainers") or [])
        return found

    def container_ports(self) -> list[Obj]:
        return [p for c in self.spec.get("containers") or [] for p in c.get("ports") or []]


def pods(objs: Iterable[Obj]) -> list[Pod]:
    found = []
    for obj in objs:
        path = POD_TEMPLATE_PATHS.get(obj.get("kind", ""))
        if path is not None:
            template = dig(obj, *path)
            if isinstance(template, dict):
                found.append(Pod(obj, template))
        elif obj.get("kind") == "Pod":
            found.append(Pod(obj, obj))
    return found


def of_kind(objs: Iterable[Obj], *kinds: str) -> Iterator[Obj]:
    return (o for o in objs if o.get("kind") in kinds)


def find(objs: Iterable[Obj], kind: str, obj_name: str, ns: str) -> Obj | None:
    for obj in objs:
        if obj.get("kind") == kind and name(obj) == obj_name and namespace(obj) == ns:
            return obj
    return None


# -- label selectors -------------------------------------------------------------------------------

def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions). An empty selector matches everything."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def plain_selector_matches(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """A Service's map selector; an empty one selects nothing (Endpoints are then managed by hand)."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# -- checks ----------------------------------------------------------------------------------------

def check_unique_and_namespaced(objs: list[Obj], expected_namespace: str | None) -> list[str]:
    problems, seen = [], set()
    for obj in objs:
        key = (obj.get("apiVersion"), obj.get("kind"), namespace(obj), name(obj))
        if key in seen:
            problems.append(f"{ref(obj)}: defined twice in namespace {namespace(obj)}")
        seen.add(key)
        if expected_namespace and obj.get("kind") not in CLUSTER_SCOPED \
                and dig(obj, "metadata", "namespace") != expected_namespace:
            problems.append(f"{ref(obj)}: namespace {dig(obj, 'metadata', 'namespace')!r}, "
                            f"expected {expected_namespace!r}")
    return problems


def check_services(objs: list[Obj]) -> list[str]:
    """Each Service selects some pods, and each of its target ports is a port of those pods."""
    problems = []
    all_pods = pods(objs)
    for svc in of_kind(objs, "Service"):
        selector = dig(svc, "spec", "selector")
        matched = [p for p in all_pods
                   if p.namespace == namespace(svc) and plain_selector_matches(selector, p.labels)]
        if not matched:
            problems.append(f"{ref(svc)}: selector {selector} matches no pod template")
            continue
        for port in dig(svc, "spec", "ports") or []:
            target = port.get("targetPort", port.get("port"))
            protocol = port.get("protocol", "TCP")
            for pod in matched:
                ok = any((cp.get("name") == target if isinstance(target, str) else cp.get("containerPort") == target)
                         and cp.get("protocol", "TCP") == protocol for cp in pod.container_ports())
                if not ok:
                    problems.append(f"{ref(svc)}: port {port.get('name', port.get('port'))} targets {target!r}, "
                                    f"which {pod.ref} does not expose")
    return problems


def check_hpas(objs: list[Obj]) -> list[str]:
    """Each HPA targets an existing workload, which leaves `replicas` to it and requests the resource it scales on."""
    problems = []
    for hpa in of_kind(objs, "HorizontalPodAutoscaler"):
        target = dig(hpa, "spec", "scaleTargetRef") or {}
        obj = find(objs, target.get("kind", ""), target.get("name", ""), namespace(hpa))
        if obj is None:
            problems.append(f"{ref(hpa)}: target {target.get('kind')}/{target.get('name')} does not exist")
            continue
        if obj.get("apiVersion") != target.get("apiVersion"):
            problems.append(f"{ref(hpa)}: target apiVersion {target.get('apiVersion')} != {obj.get('apiVersion')}")
        if "replicas" in (obj.get("spec") or {}):
            problems.append(f"{ref(hpa)}: {ref(obj)} sets spec.replicas, which every apply would reset")
        lo, hi = dig(hpa, "spec", "minReplicas") or 1, dig(hpa, "spec", "maxReplicas") or 0
        if hi < lo:
            problems.append(f"{ref(hpa)}: maxReplicas {hi} < minReplicas {lo}")
        for metric in dig(hpa, "spec", "metrics") or []:
            resource = dig(metric, "resource", "name")
            if metric.get("type") == "Resource" and resource:
                for c in (c for pod in pods([obj]) for c in pod.containers(init=False)):
                    if resource not in (dig(c, "resources", "requests") or {}):
                        problems.append(f"{ref(hpa)}: scales on {resource} but {ref(obj)} container "
                                        f"{c.get('name')} requests no {resource}")
    return problems


def check_pdbs(objs: list[Obj]) -> list[str]:
    problems = []
    all_pods = pods(objs)
    for pdb in of_kind(objs, "PodDisruptionBudget"):
        selector = dig(pdb, "spec", "selector")
        if not any(p.namespace == namespace(pdb) and selector_matches(selector, p.labels) for p in all_pods):
            problems.append(f"{ref(pdb)}: selector {selector} matches no pod template")
    return problems


def check_workload_selectors(objs: list[Obj]) -> list[str]:
    """A Deployment's (StatefulSet's...) selector must match its own template."""
    problems = []
    for obj in of_kind(objs, "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        labels = dig(obj, "spec", "template", "metadata", "labels") or {}
        if not selector_matches(dig(obj, "spec", "selector"), labels):
            problems.append(f"{ref(obj)}: spec.selector does not match its own pod template")
    return problems


def load_operator_secrets(doc: Obj) -> dict[str, set[str]]:
    return {s["name"]: set(s.get("keys") or []) for s in doc.get("secrets") or []}


def check_config_refs(objs: list[Obj], operator_secrets: dict[str, set[str]]) -> list[str]:
    """ConfigMaps and Secrets that pods reference exist (rendered, or provided by the operator) with the keys."""
    problems = []

    def lookup(kind: str, ref_name: str, ns: str, key: str | None, where: str, optional: bool) -> None:
        if optional:
            return
        obj = find(objs, kind, ref_name, ns)
        if obj is not None:
            keys = set((obj.get("data") or {}).keys()) | set((obj.get("binaryData") or {}).keys()) \
                | set((obj.get("stringData") or {}).keys())
            if key is not None and key not in keys:
                problems.append(f"{where}: {kind} {ref_name} has no key {key}")
            return
        if kind == "Secret" and ref_name in operator_secrets:
            if key is not None and key not in operator_secrets[ref_name]:
                problems.append(f"{where}: operator-provided Secret {ref_name} is documented without key {key}")
            return
        extra = " and is not in deploy/operator-secrets.yaml" if kind == "Secret" else ""
        problems.append(f"{where}: {kind} {ref_name} does not exist{extra}")

    for pod in pods(objs):
        ns = pod.namespace
        for c in pod.containers():
            where = f"{pod.ref} container {c.get('name')}"
            for src in c.get("envFrom") or []:
                if "configMapRef" in src:
                    r = src["configMapRef"]
                    lookup("ConfigMap", r.get("name"), ns, None, where, r.get("optional", False))
                if "secretRef" in src:
                    r = src["secretRef"]
                    lookup("Secret", r.get("name"), ns, None, where, r.get("optional", False))
            for env in c.get("env") or []:
                vf = env.get("valueFrom") or {}
                if "configMapKeyRef" in vf:
                    r = vf["configMapKeyRef"]
                    lookup("ConfigMap", r.get("name"), ns, r.get("key"), f"{where} env {env.get('name')}",
                           r.get("optional", False))
                if "secretKeyRef" in vf:
                    r = vf["secretKeyRef"]
                    lookup("Secret", r.get("name"), ns, r.get("key"), f"{where} env {env.get('name')}",
                           r.get("optional", False))
        for vol in pod.spec.get("volumes") or []:
            where = f"{pod.ref} volume {vol.get('name')}"
            if "configMap" in vol:
                lookup("ConfigMap", vol["configMap"].get("name"), ns, None, where,
                       vol["configMap"].get("optional", False))
            if "secret" in vol:
                lookup("Secret", vol["secret"].get("secretName"), ns, None, where,
                       vol["secret"].get("optional", False))
            for source in dig(vol, "projected", "sources") or []:
                if "configMap" in source:
                    lookup("ConfigMap", source["configMap"].get("name"), ns, None, where,
                           source["configMap"].get("optional", False))
                if "secret" in source:
                    lookup("Secret", source["secret"].get("name"), ns, None, where,
                           source["secret"].get("optional", False))
        sa = pod.spec.get("serviceAccountName")
        if sa and find(objs, "ServiceAccount", sa, ns) is None:
            problems.append(f"{pod.ref}: ServiceAccount {sa} does not exist")
    return problems


def check_no_secret_values(objs: list[Obj]) -> list[str]:
    """No Secret with values is rendered: real credentials never live in the repository."""
    return [f"{ref(o)}: a Secret with values is rendered; reference an operator-created Secret instead"
            for o in of_kind(objs, "Secret") if o.get("data") or o.get("stringData")]


# -- cron ------------------------------------------------------------------------------------------

CRON_FIELDS = (("minute", 0, 59, None), ("hour", 0, 23, None), ("day of month", 1, 31, None),
               ("month", 1, 12, ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
               ("day of week", 0, 7, ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]))
CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def cron_problems(schedule: str) -> list[str]:
    """Problems of a standard 5-field cron expression as the CronJob controller accepts it."""
    schedule = schedule.strip()
    if schedule in CRON_MACROS:
        return []
    if re.search(r"\b(CRON_)?TZ=", schedule):
        return ["set the time zone with spec.timeZone, not TZ= in the schedule"]
    parts = schedule.split()
    if len(parts) != 5:
        return [f"{len(parts)} fields, expected 5"]
    problems = []
    for text, spec in zip(parts, CRON_FIELDS, strict=True):
        label = spec[0]

        def value(token: str, spec: tuple = spec) -> int:
            label, lo, hi, names = spec
            if names and token.lower() in names:
                return names.index(token.lower()) + (1 if label == "month" else 0)
            if not token.isdigit():
                raise ValueError(f"{token!r} is not a number")
            number = int(token)
            if not lo <= number <= hi:
                raise ValueError(f"{number} is outside {lo}-{hi}")
            return number

        for item in text.split(","):
            try:
                base, _, step = item.partition("/")
                if step and (not step.isdigit() or int(step) == 0):
                    raise ValueError(f"bad step {step!r}")
                if base in ("*", "?"):
                    continue
                start, _, end = base.partition("-")
                a = value(start)
                if end and value(end) < a:
                    raise ValueError(f"range {base} runs backwards")
            except ValueError as exc:
                problems.append(f"{label} {item!r}: {exc}")
    return problems


def check_cronjobs(objs: list[Obj]) -> list[str]:
    problems = []
    for cj in of_kind(objs, "CronJob"):
        spec = cj.get("spec") or {}
        for p in cron_problems(str(spec.get("schedule", ""))):
            problems.append(f"{ref(cj)}: schedule {spec.get('schedule')!r}: {p}")
        tz = spec.get("timeZone")
        if tz:
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                problems.append(f"{ref(cj)}: unknown timeZone {tz!r}")
        else:
            problems.append(f"{ref(cj)}: no timeZone (the controller's zone would decide when it runs)")
        if spec.get("concurrencyPolicy") != "Forbid":
            problems.append(f"{ref(cj)}: concurrencyPolicy should be Forbid")
        if spec.get("startingDeadlineSeconds") is None:
            problems.append(f"{ref(cj)}: no startingDeadlineSeconds")
        if dig(spec, "jobTemplate", "spec", "backoffLimit") is None:
            problems.append(f"{ref(cj)}: no backoffLimit")
    return problems


# -- probes, resources, security -------------------------------------------------------------------

def _port_exists(container: Obj, port: Any) -> bool:
    for cp in container.get("ports") or []:
        if (isinstance(port, str) and cp.get("name") == port) or cp.get("containerPort") == port:
            return True
    return False


def check_probes(objs: list[Obj]) -> list[str]:
    """Probes point at ports the container declares."""
    problems = []
    for pod in pods(objs):
        for c in pod.containers(init=False):
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = c.get(kind)
                if not probe:
                    continue
                for handler in ("grpc", "httpGet", "tcpSocket"):
                    if handler in probe:
                        port = probe[handler].get("port")
                        if handler == "grpc" and not isinstance(port, int):
                            problems.append(f"{pod.ref} {c.get('name')} {kind}: grpc port must be a number")
                        elif not _port_exists(c, port):
                            problems.append(f"{pod.ref} {c.get('name')} {kind}: port {port!r} is not a container port")
    return problems


def check_long_running_probes(objs: list[Obj]) -> list[str]:
    """Long-running servers have startup, readiness and liveness probes."""
    problems = []
    for pod in pods(objs):
        if pod.owner.get("kind") in ("Job", "CronJob"):
            continue
        for c in pod.containers(init=False):
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                if not c.get(kind):
                    problems.append(f"{pod.ref} {c.get('name')}: no {kind}")
    return problems


def check_resources_and_security(objs: list[Obj]) -> list[str]:
    problems = []
    for pod in pods(objs):
        psc = pod.spec.get("securityContext") or {}
        if pod.spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{pod.ref}: automountServiceAccountToken is not false")
        sa = find(objs, "ServiceAccount", pod.spec.get("serviceAccountName", "default"), pod.namespace)
        if sa is None:
            problems.append(f"{pod.ref}: no ServiceAccount of its own")
        elif sa.get("automountServiceAccountToken") is not False:
            problems.append(f"{ref(sa)}: automountServiceAccountToken is not false")
        mounts_tmp = False
        for c in pod.containers():
            where = f"{pod.ref} container {c.get('name')}"
            for part in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    if res not in (dig(c, "resources", part) or {}):
                        problems.append(f"{where}: no {res} {part[:-1]}")
            sc = c.get("securityContext") or {}
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem is not true")
            if sc.get("privileged"):
                problems.append(f"{where}: privileged")
            if "ALL" not in (dig(sc, "capabilities", "drop") or []):
                problems.append(f"{where}: capabilities do not drop ALL")
            if dig(sc, "capabilities", "add"):
                problems.append(f"{where}: adds capabilities")
            if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
                problems.append(f"{where}: runAsNonRoot is not true")
            uid = sc.get("runAsUser", psc.get("runAsUser"))
            if uid is not None and uid == 0:
                problems.append(f"{where}: runs as uid 0")
            seccomp = dig(sc, "seccompProfile", "type") or dig(psc, "seccompProfile", "type")
            if seccomp != "RuntimeDefault":
                problems.append(f"{where}: seccompProfile is {seccomp!r}, not RuntimeDefault")
            image = c.get("image", "")
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            if "@sha256:" not in image and (not tag or tag == "latest"):
                problems.append(f"{where}: image {image!r} has no fixed tag")
            mounts_tmp |= any(m.get("mountPath") == "/tmp" for m in c.get("volumeMounts") or [])
        if not mounts_tmp:
            problems.append(f"{pod.ref}: no writable /tmp (emptyDir) under the read-only root filesystem")
    return problems


# -- network policies ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    """A traffic source or destination: a pod (namespace + labels) or an address outside the cluster."""

    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    namespace_labels: tuple[tuple[str, str], ...] = ()
    ip: str | None = None
    name: str = field(default="", compare=False)

    @staticmethod
    def pod(ns: str, labels: dict[str, str], ns_labels: dict[str, str] | None = None, name: str = "") -> Endpoint:
        nsl = {"kubernetes.io/metadata.name": ns, **(ns_labels or {})}
        return Endpoint(ns, tuple(sorted(labels.items())), tuple(sorted(nsl.items())), None, name or str(labels))

    @staticmethod
    def external(ip: str) -> Endpoint:
        return Endpoint(ip=ip, name=ip)


def policy_types(pol: Obj) -> list[str]:
    types = dig(pol, "spec", "policyTypes")
    if types:
        return types
    return ["Ingress"] + (["Egress"] if dig(pol, "spec", "egress") else [])


def _peer_matches(peer: Obj, policy_ns: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        if other.ip is None:
            return False  # pod IPs are not known offline: treat ipBlocks as outside the cluster
        ip = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and \
            not any(ip in ipaddress.ip_network(e) for e in block.get("except") or [])
    if other.ip is not None:
        return False
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns_sel is None:
        if other.namespace != policy_ns:
            return False
    elif not selector_matches(ns_sel, dict(other.namespace_labels)):
        return False
    return pod_sel is None or selector_matches(pod_sel, dict(other.labels))


def _ports_match(ports: list[Obj] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        number = p.get("port")
        if number is None or number == port or (isinstance(number, int) and number <= port <= p.get("endPort", number)):
            return True
    return False


def _direction_allows(policies: list[Obj], subject: Endpoint, other: Endpoint, port: int, protocol: str,
                      direction: str) -> bool:
    """Whether the policies that isolate `subject` in `direction` let traffic with `other` through."""
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    isolating = [p for p in policies if namespace(p) == subject.namespace and direction in policy_types(p)
                 and selector_matches(dig(p, "spec", "podSelector"), dict(subject.labels))]
    if not isolating:
        return True
    for pol in isolating:
        for rule in dig(pol, "spec", rules_key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(peer, namespace(pol), other) for peer in peers)) \
                    and _ports_match(rule.get("ports"), port, protocol):
                return True
    return False


def allowed(objs: list[Obj], src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
    """Whether the NetworkPolicies in `objs` allow src -> dst:port. Only endpoints in namespaces that
    the objects manage are constrained; the others (kube-system, monitoring, outside) are not ours."""
    policies = list(of_kind(objs, "NetworkPolicy"))
    managed = {namespace(p) for p in policies}
    ok = True
    if src.namespace in managed:
        ok &= _direction_allows(policies, src, dst, port, protocol, "Egress")
    if dst.namespace in managed:
        ok &= _direction_allows(policies, dst, src, port, protocol, "Ingress")
    return ok


def check_network_policies(objs: list[Obj]) -> list[str]:
    """Selectors match pods; ports named in rules are container ports of the pods they reach;
    a default deny covers every pod in both directions."""
    problems = []
    all_pods = pods(objs)
    policies = list(of_kind(objs, "NetworkPolicy"))
    for pol in policies:
        ns = namespace(pol)
        local = [p for p in all_pods if p.namespace == ns]
        selected = [p for p in local if selector_matches(dig(pol, "spec", "podSelector"), p.labels)]
        if not selected:
            problems.append(f"{ref(pol)}: podSelector matches no pod template")
        for rules_key, peers_key in (("ingress", "from"), ("egress", "to")):
            for i, rule in enumerate(dig(pol, "spec", rules_key) or []):
                # The pods whose ports a rule names: the selected pods for ingress, the peer pods for egress.
                targets = selected
                for peer in rule.get(peers_key) or []:
                    if "podSelector" in peer and "namespaceSelector" not in peer:
                        peer_pods = [p for p in local if selector_matches(peer["podSelector"], p.labels)]
                        if not peer_pods:
                            problems.append(f"{ref(pol)}: {rules_key}[{i}] podSelector matches no pod template")
                        if rules_key == "egress":
                            targets = peer_pods
                    elif rules_key == "egress":
                        targets = []  # outside the namespace: ports cannot be checked here
                if rules_key == "egress" and not rule.get(peers_key):
                    targets = []
                for p in rule.get("ports") or []:
                    number = p.get("port")
                    for pod in targets:
                        if number is not None and not any(
                                (cp.get("containerPort") == number or cp.get("name") == number)
                                and cp.get("protocol", "TCP") == p.get("protocol", "TCP")
                                for cp in pod.container_ports()):
                            problems.append(f"{ref(pol)}: {rules_key}[{i}] port {number} is not a port of {pod.ref}")
    for pod in all_pods:
        for direction in ("Ingress", "Egress"):
            denied = any(namespace(p) == pod.namespace and direction in policy_types(p)
                         and dig(p, "spec", "podSelector") == {} and not dig(p, "spec", direction.lower())
                         for p in policies)
            if not denied:
                problems.append(f"{pod.ref}: no default-deny {direction} NetworkPolicy covers it")
    return problems


# -- conventions (docs/conventions.md) -------------------------------------------------------------

SERVICES = {"transcriber": (50051, 9101), "scorer": (50052, 9102), "gateway": (50053, 9103)}


def _configmap_env(objs: list[Obj], pod: Pod, container: Obj) -> dict[str, str]:
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        cm_name = dig(src, "configMapRef", "name")
        if cm_name:
            cm = find(objs, "ConfigMap", cm_name, pod.namespace)
            env.update((cm or {}).get("data") or {})
    for e in container.get("env") or []:
        if "value" in e:
            env[e["name"]] = e["value"]
    return env


def check_conventions(objs: list[Obj]) -> list[str]:
    """Ports, port names, settings and the gateway's headless targets agree with docs/conventions.md."""
    problems = []
    for pod in pods(objs):
        svc_name = pod.labels.get("app.kubernetes.io/name")
        if svc_name not in SERVICES or pod.owner.get("kind") != "Deployment":
            continue
        grpc_port, metrics_port = SERVICES[svc_name]
        prefix = f"HELPLINE_{svc_name.upper()}_"
        for c in pod.containers(init=False):
            ports = {cp.get("name"): cp.get("containerPort") for cp in c.get("ports") or []}
            if ports.get("grpc") != grpc_port or ports.get("metrics") != metrics_port:
                problems.append(f"{pod.ref}: ports {ports}, expected grpc={grpc_port} metrics={metrics_port}")
            env = _configmap_env(objs, pod, c)
            for key, want in (("PORT", grpc_port), ("METRICS_PORT", metrics_port)):
                if env.get(prefix + key) != str(want):
                    problems.append(f"{pod.ref}: {prefix}{key} is {env.get(prefix + key)!r}, expected {want}")
            workers, cap = env.get(prefix + "WORKERS"), env.get(prefix + "MAX_CONCURRENT_RPCS")
            if workers and cap and int(workers) < int(cap):
                problems.append(f"{pod.ref}: {prefix}WORKERS={workers} < MAX_CONCURRENT_RPCS={cap}: admitted RPCs "
                                "(and health probes) would queue for a thread")
            annotations = dig(pod.template, "metadata", "annotations") or {}
            if annotations.get("prometheus.io/port") != str(metrics_port):
                problems.append(f"{pod.ref}: prometheus.io/port annotation is not {metrics_port}")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if dig(c, probe, "grpc", "port") != grpc_port:
                    problems.append(f"{pod.ref}: {probe} is not a native grpc probe on {grpc_port}")
            if svc_name == "gateway":
                for backend in ("TRANSCRIBER", "SCORER"):
                    target = env.get(f"HELPLINE_GATEWAY_{backend}_ADDRESSES", "")
                    match = re.fullmatch(r"dns:///([a-z0-9-]+)(?:\.([a-z0-9-]+)(?:\.svc(?:\.cluster\.local)?)?)?:(\d+)",
                                         target)
                    if not match:
                        problems.append(f"{pod.ref}: HELPLINE_GATEWAY_{backend}_ADDRESSES={target!r} is not a "
                                        "dns:/// headless Service target")
                        continue
                    host, ns, port = match.group(1), match.group(2) or pod.namespace, int(match.group(3))
                    svc = find(objs, "Service", host, ns)
                    if svc is None:
                        problems.append(f"{pod.ref}: {backend} target Service {host} does not exist")
                    elif dig(svc, "spec", "clusterIP") != "None":
                        problems.append(f"{pod.ref}: {backend} target Service {host} is not headless "
                                        "(round-robin needs every pod address)")
                    elif port not in [p.get("port") for p in dig(svc, "spec", "ports") or []]:
                        problems.append(f"{pod.ref}: {backend} target port {port} is not a port of Service {host}")
    for svc in of_kind(objs, "Service"):
        if name(svc) in SERVICES or name(svc).removesuffix("-headless") in SERVICES:
            port_names = {p.get("name"): p.get("port") for p in dig(svc, "spec", "ports") or []}
            grpc_port, metrics_port = SERVICES[name(svc).removesuffix("-headless")]
            if port_names.get("grpc") != grpc_port or port_names.get("metrics") != metrics_port:
                problems.append(f"{ref(svc)}: ports {port_names}, expected grpc={grpc_port} metrics={metrics_port}")
    return problems


ALL_CHECKS = {
    "services": check_services,
    "hpas": check_hpas,
    "pdbs": check_pdbs,
    "workload selectors": check_workload_selectors,
    "cronjobs": check_cronjobs,
    "probes": check_probes,
    "long-running probes": check_long_running_probes,
    "resources and security": check_resources_and_security,
    "network policies": check_network_policies,
    "conventions": check_conventions,
    "no secret values": check_no_secret_values,
}
