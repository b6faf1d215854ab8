"""Cross-reference checks on every rendered overlay (deploy/k8s/overlays/*)."""

from __future__ import annotations

import crossref
import pytest
from conftest import NAMESPACES, OVERLAYS
from crossref import Endpoint


def test_every_overlay_renders(rendered):
    assert set(rendered) >= {"dev", "prod"}
    for name, objs in rendered.items():
        kinds = {o["kind"] for o in objs}
        assert {"Deployment", "Service", "ServiceAccount", "ConfigMap", "HorizontalPodAutoscaler",
                "PodDisruptionBudget", "NetworkPolicy", "CronJob", "Job", "Namespace"} <= kinds, name


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("check", sorted(crossref.ALL_CHECKS))
def test_check(rendered, overlay, check):
    assert crossref.ALL_CHECKS[check](rendered[overlay]) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_and_secret_references(rendered, operator_secrets, overlay):
    assert crossref.check_config_refs(rendered[overlay], operator_secrets) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_namespace_no_duplicates(rendered, overlay):
    assert crossref.check_unique_and_namespaced(rendered[overlay], NAMESPACES.get(overlay)) == []


def test_operator_secrets_are_documented(operator_secrets):
    from conftest import DEPLOY

    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for secret, keys in operator_secrets.items():
        assert secret in readme, f"deploy/README.md does not tell how to create Secret {secret}"
        for key in keys:
            assert key in readme, f"deploy/README.md does not mention key {key} of Secret {secret}"


def test_overlay_shapes(rendered):
    def deployment(overlay, name):
        return crossref.find(rendered[overlay], "Deployment", name, NAMESPACES[overlay])

    def hpa(overlay, name):
        return crossref.find(rendered[overlay], "HorizontalPodAutoscaler", name, NAMESPACES[overlay])

    # dev: one replica of everything and an in-namespace MinIO with a volume claim, pinned release.
    assert deployment("dev", "gateway")["spec"]["replicas"] == 1
    assert hpa("dev", "transcriber")["spec"]["minReplicas"] == 1
    assert hpa("dev", "scorer")["spec"]["minReplicas"] == 1
    minio = crossref.find(rendered["dev"], "StatefulSet", "minio", "helpline-qa-dev")
    assert minio["spec"]["replicas"] == 1 and minio["spec"]["volumeClaimTemplates"]
    image = minio["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("quay.io/minio/minio:RELEASE.")
    # prod: no MinIO of its own, more replicas, spread over nodes, more resources than dev.
    assert crossref.find(rendered["prod"], "StatefulSet", "minio", "helpline-qa") is None
    assert deployment("prod", "gateway")["spec"]["replicas"] > 1
    for name in ("transcriber", "scorer"):
        assert hpa("prod", name)["spec"]["minReplicas"] > hpa("dev", name)["spec"]["minReplicas"]
        assert hpa("prod", name)["spec"]["maxReplicas"] > hpa("dev", name)["spec"]["maxReplicas"]
    for name in ("transcriber", "scorer", "gateway"):
        spec = deployment("prod", name)["spec"]["template"]["spec"]
        assert spec["affinity"]["podAntiAffinity"], name
        dev_cpu = deployment("dev", name)["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"]
        prod_cpu = spec["containers"][0]["resources"]["limits"]["cpu"]
        assert _cores(prod_cpu) > _cores(dev_cpu), name


def _cores(q: str) -> float:
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


# -- who may talk to whom --------------------------------------------------------------------------

def _endpoints(objs, overlay):
    ns = NAMESPACES[overlay]
    ns_obj = crossref.find(objs, "Namespace", ns, "default")
    ns_labels = (ns_obj or {}).get("metadata", {}).get("labels") or {}
    eps = {}
    for pod in crossref.pods(objs):
        app = pod.labels.get("app.kubernetes.io/name")
        if app:
            eps[app] = Endpoint.pod(pod.namespace, pod.labels, ns_labels, name=app)
    eps["dns"] = Endpoint.pod("kube-system", {"k8s-app": "kube-dns"}, name="dns")
    eps["prometheus"] = Endpoint.pod("monitoring", {"app.kubernetes.io/name": "prometheus"}, name="prometheus")
    eps["ingress"] = Endpoint.pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"},
                                  {"helpline-qa/gateway-client": "true"}, name="ingress")
    eps["stranger"] = Endpoint.pod("default", {"app": "something"}, name="stranger")
    eps["internet"] = Endpoint.external("198.51.100.7")
    eps["store"] = eps["minio"] if "minio" in eps else Endpoint.external("192.0.2.10")
    return eps


ALLOWED = [
    ("gateway", "transcriber", 50051, "TCP"),
    ("gateway", "scorer", 50052, "TCP"),
    ("nightly", "gateway", 50053, "TCP"),
    ("ingress", "gateway", 50053, "TCP"),
    ("transcriber", "store", 9000, "TCP"),
    ("scorer", "store", 9000, "TCP"),
    ("gateway", "store", 9000, "TCP"),
    ("model-import", "store", 9000, "TCP"),
    ("prometheus", "transcriber", 9101, "TCP"),
    ("prometheus", "scorer", 9102, "TCP"),
    ("prometheus", "gateway", 9103, "TCP"),
] + [(src, "dns", 53, proto) for src in ("transcriber", "scorer", "gateway", "nightly", "model-import")
     for proto in ("UDP", "TCP")]

DENIED = [
    ("transcriber", "scorer", 50052, "TCP"),
    ("scorer", "transcriber", 50051, "TCP"),
    ("transcriber", "gateway", 50053, "TCP"),
    ("nightly", "transcriber", 50051, "TCP"),
    ("nightly", "scorer", 50052, "TCP"),
    ("nightly", "store", 9000, "TCP"),
    ("model-import", "gateway", 50053, "TCP"),
    ("stranger", "gateway", 50053, "TCP"),
    ("stranger", "transcriber", 50051, "TCP"),
    ("prometheus", "transcriber", 50051, "TCP"),
    ("prometheus", "gateway", 50053, "TCP"),
    ("gateway", "internet", 443, "TCP"),
    ("transcriber", "internet", 443, "TCP"),
    ("gateway", "transcriber", 9101, "TCP"),
]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("src,dst,port,proto", ALLOWED)
def test_allowed_flow(rendered, overlay, src, dst, port, proto):
    eps = _endpoints(rendered[overlay], overlay)
    assert crossref.allowed(rendered[overlay], eps[src], eps[dst], port, proto), f"{src} -> {dst}:{port}/{proto}"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("src,dst,port,proto", DENIED)
def test_denied_flow(rendered, overlay, src, dst, port, proto):
    eps = _endpoints(rendered[overlay], overlay)
    assert not crossref.allowed(rendered[overlay], eps[src], eps[dst], port, proto), f"{src} -> {dst}:{port}/{proto}"


def test_dev_store_is_reachable_only_from_its_clients(rendered):
    eps = _endpoints(rendered["dev"], "dev")
    assert not crossref.allowed(rendered["dev"], eps["stranger"], eps["minio"], 9000)
    assert not crossref.allowed(rendered["dev"], eps["nightly"], eps["minio"], 9000)
    assert not crossref.allowed(rendered["dev"], eps["gateway"], eps["internet"], 9000)
