"""The checks can fail: each test breaks one thing in an in-memory copy of the dev overlay (or writes
a small broken manifest) and asserts that the right check reports it."""

from __future__ import annotations

import copy

import crossref
import pytest
from conftest import NAMESPACES
from crossref import Endpoint

NS = NAMESPACES["dev"]


@pytest.fixture
def dev(rendered):
    return copy.deepcopy(rendered["dev"])


def get(objs, kind, name):
    obj = crossref.find(objs, kind, name, NS)
    assert obj is not None, f"{kind}/{name} not rendered"
    return obj


def container(objs, kind, name):
    return crossref.pods([get(objs, kind, name)])[0].containers(init=False)[0]


def reported(problems: list[str], *fragments: str) -> bool:
    return any(all(f in p for f in fragments) for p in problems)


def test_service_selector_that_matches_nothing(dev):
    get(dev, "Service", "transcriber-headless")["spec"]["selector"] = {"app.kubernetes.io/name": "transcribr"}
    assert reported(crossref.check_services(dev), "Service/transcriber-headless", "matches no pod")


def test_service_target_port_name_that_the_pod_lacks(dev):
    get(dev, "Service", "scorer")["spec"]["ports"][0]["targetPort"] = "gprc"
    assert reported(crossref.check_services(dev), "Service/scorer", "'gprc'", "does not expose")


def test_hpa_target_that_does_not_exist(dev):
    get(dev, "HorizontalPodAutoscaler", "scorer")["spec"]["scaleTargetRef"]["name"] = "scorer-v2"
    assert reported(crossref.check_hpas(dev), "HorizontalPodAutoscaler/scorer", "does not exist")


def test_hpa_target_with_fixed_replicas(dev):
    get(dev, "Deployment", "transcriber")["spec"]["replicas"] = 3
    assert reported(crossref.check_hpas(dev), "sets spec.replicas")


def test_pdb_selector_that_matches_nothing(dev):
    get(dev, "PodDisruptionBudget", "gateway")["spec"]["selector"] = {"matchLabels": {"app": "gateway"}}
    assert reported(crossref.check_pdbs(dev), "PodDisruptionBudget/gateway", "matches no pod")


def test_network_policy_selector_that_matches_nothing(dev):
    get(dev, "NetworkPolicy", "scorer-ingress-from-gateway")["spec"]["podSelector"] = {
        "matchLabels": {"app.kubernetes.io/name": "scoring"}}
    assert reported(crossref.check_network_policies(dev), "scorer-ingress-from-gateway", "matches no pod")


def test_network_policy_port_that_is_not_a_container_port(dev):
    get(dev, "NetworkPolicy", "transcriber-metrics-from-monitoring")["spec"]["ingress"][0]["ports"][0]["port"] = 9102
    assert reported(crossref.check_network_policies(dev), "transcriber-metrics-from-monitoring", "9102")


def test_missing_default_deny(dev):
    dev.remove(get(dev, "NetworkPolicy", "default-deny-all"))
    assert reported(crossref.check_network_policies(dev), "no default-deny Ingress")


def test_missing_ingress_allow_blocks_the_gateway(dev):
    pods = {p.labels["app.kubernetes.io/name"]: p for p in crossref.pods(dev)}
    gateway = Endpoint.pod(NS, pods["gateway"].labels)
    transcriber = Endpoint.pod(NS, pods["transcriber"].labels)
    assert crossref.allowed(dev, gateway, transcriber, 50051)
    dev.remove(get(dev, "NetworkPolicy", "transcriber-ingress-from-gateway"))
    assert not crossref.allowed(dev, gateway, transcriber, 50051)


def test_secret_that_nobody_provides(dev, operator_secrets):
    env = container(dev, "Deployment", "gateway")["env"]
    next(e for e in env if e["name"] == "HELPLINE_GATEWAY_TOKEN_SIGNING_KEY")["valueFrom"]["secretKeyRef"]["name"] = \
        "gateway-signing"
    assert reported(crossref.check_config_refs(dev, operator_secrets), "Secret gateway-signing does not exist",
                    "operator-secrets.yaml")


def test_secret_key_that_is_not_documented(dev, operator_secrets):
    env = container(dev, "Deployment", "scorer")["env"]
    env[0]["valueFrom"]["secretKeyRef"]["key"] = "ACCESS_KEY"
    assert reported(crossref.check_config_refs(dev, operator_secrets), "without key ACCESS_KEY")


def test_configmap_that_does_not_exist(dev, operator_secrets):
    container(dev, "Deployment", "transcriber")["envFrom"][0]["configMapRef"]["name"] = "helpline-store"  # no hash
    assert reported(crossref.check_config_refs(dev, operator_secrets), "ConfigMap helpline-store does not exist")


def test_committed_secret_values(dev):
    dev.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "oops", "namespace": NS},
                "stringData": {"AWS_SECRET_ACCESS_KEY": "minio123"}})
    assert reported(crossref.check_no_secret_values(dev), "Secret/oops")


@pytest.mark.parametrize("schedule,fragment", [
    ("61 1 * * *", "minute '61'"),
    ("30 24 * * *", "hour '24'"),
    ("30 1 * *", "4 fields"),
    ("30 1 0 * *", "day of month '0'"),
    ("30 1 * 13 *", "month '13'"),
    ("30 1 * * 8", "day of week '8'"),
    ("*/0 * * * *", "bad step"),
    ("30 5-2 * * *", "runs backwards"),
    ("CRON_TZ=Europe/Moscow 30 1 * * *", "spec.timeZone"),
])
def test_cron_schedule_that_does_not_parse(dev, schedule, fragment):
    get(dev, "CronJob", "nightly")["spec"]["schedule"] = schedule
    assert reported(crossref.check_cronjobs(dev), "CronJob/nightly", fragment)


@pytest.mark.parametrize("schedule", ["30 1 * * *", "*/15 0-5 * * mon-fri", "0 3 1,15 jan-jun *", "@daily"])
def test_cron_schedules_that_parse(schedule):
    assert crossref.cron_problems(schedule) == []


def test_unknown_time_zone_and_allowed_concurrency(dev):
    spec = get(dev, "CronJob", "nightly")["spec"]
    spec["timeZone"] = "Europe/Atlantis"
    spec["concurrencyPolicy"] = "Allow"
    problems = crossref.check_cronjobs(dev)
    assert reported(problems, "unknown timeZone 'Europe/Atlantis'")
    assert reported(problems, "concurrencyPolicy")


def test_probe_on_a_port_the_container_lacks(dev):
    container(dev, "Deployment", "scorer")["readinessProbe"]["grpc"]["port"] = 50999
    assert reported(crossref.check_probes(dev), "Deployment/scorer", "readinessProbe", "50999")


def test_http_probe_on_an_unknown_port_name(dev):
    container(dev, "StatefulSet", "minio")["livenessProbe"]["httpGet"]["port"] = "api"
    assert reported(crossref.check_probes(dev), "StatefulSet/minio", "'api'")


def test_missing_startup_probe(dev):
    del container(dev, "Deployment", "transcriber")["startupProbe"]
    assert reported(crossref.check_long_running_probes(dev), "Deployment/transcriber", "no startupProbe")


def test_missing_limits_and_weak_security_context(dev):
    c = container(dev, "Deployment", "gateway")
    del c["resources"]["limits"]
    c["securityContext"]["readOnlyRootFilesystem"] = False
    c["securityContext"]["capabilities"]["drop"] = ["NET_RAW"]
    problems = crossref.check_resources_and_security(dev)
    assert reported(problems, "Deployment/gateway", "no cpu limit")
    assert reported(problems, "Deployment/gateway", "no memory limit")
    assert reported(problems, "Deployment/gateway", "readOnlyRootFilesystem")
    assert reported(problems, "Deployment/gateway", "drop ALL")


def test_init_container_without_resources(dev):
    init = get(dev, "Job", "model-import")["spec"]["template"]["spec"]["initContainers"][0]
    del init["resources"]
    assert reported(crossref.check_resources_and_security(dev), "Job/model-import", "wait-for-archive",
                    "no cpu request")


def test_pod_running_as_root(dev):
    spec = get(dev, "CronJob", "nightly")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    spec["containers"][0]["securityContext"]["runAsUser"] = 0
    assert reported(crossref.check_resources_and_security(dev), "CronJob/nightly", "uid 0")


def test_latest_image(dev):
    container(dev, "Deployment", "scorer")["image"] = "helpline-qa/scorer:latest"
    assert reported(crossref.check_resources_and_security(dev), "Deployment/scorer", "no fixed tag")


def test_gateway_pointing_at_a_clusterip_service(dev):
    cm_name = container(dev, "Deployment", "gateway")["envFrom"][-1]["configMapRef"]["name"]
    get(dev, "ConfigMap", cm_name)["data"]["HELPLINE_GATEWAY_TRANSCRIBER_ADDRESSES"] = "dns:///transcriber:50051"
    assert reported(crossref.check_conventions(dev), "TRANSCRIBER target Service transcriber is not headless")


def test_port_setting_that_disagrees_with_the_container(dev):
    cm_name = container(dev, "Deployment", "scorer")["envFrom"][-1]["configMapRef"]["name"]
    get(dev, "ConfigMap", cm_name)["data"]["HELPLINE_SCORER_PORT"] = "50059"
    assert reported(crossref.check_conventions(dev), "HELPLINE_SCORER_PORT is '50059'")


def test_fewer_workers_than_admitted_rpcs(dev):
    cm_name = container(dev, "Deployment", "gateway")["envFrom"][-1]["configMapRef"]["name"]
    get(dev, "ConfigMap", cm_name)["data"]["HELPLINE_GATEWAY_WORKERS"] = "4"
    assert reported(crossref.check_conventions(dev), "HELPLINE_GATEWAY_WORKERS=4 < MAX_CONCURRENT_RPCS")


def test_object_outside_the_overlay_namespace(dev):
    get(dev, "Service", "gateway")["metadata"]["namespace"] = "default"
    assert reported(crossref.check_unique_and_namespaced(dev, NS), "Service/gateway", "'default'")


def test_schema_validation_rejects_unknown_fields_and_api_versions():
    import validate_schemas

    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                  "spec": {"selector": {"matchLabels": {"a": "b"}},
                           "template": {"metadata": {"labels": {"a": "b"}},
                                        "spec": {"containers": [{"name": "x", "image": "x:1", "readinessprobe": {}}]}}}}
    assert any("readinessprobe" in p for p in validate_schemas.problems(deployment, "1.33.0"))
    old_hpa = {"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "x"},
               "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 2}}
    assert any("Couldn't find schema" in p for p in validate_schemas.problems(old_hpa, "1.33.0"))
    bad_port = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                "spec": {"ports": [{"port": "grpc"}]}}
    assert validate_schemas.problems(bad_port, "1.33.0")
    good = copy.deepcopy(deployment)
    good["spec"]["template"]["spec"]["containers"][0].pop("readinessprobe")
    assert validate_schemas.problems(good, "1.33.0") == []
