"""The rules every rendered Kubernetes object must keep (issue 12, deploy/k8s/README.md).

Each overlay is rendered with ``kubectl kustomize`` once per session; the tests read the
objects as the cluster would get them. The services' own settings classes judge the
environment the manifests give them, so a misspelt or invalid variable fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from scripts import k8s_dev_secrets, k8s_generate, k8s_validate
from wasmgrid.cache.settings import CacheSettings
from wasmgrid.common.server import LIVENESS_SERVICE
from wasmgrid.gateway.routes import load_route_store
from wasmgrid.gateway.settings import GatewaySettings
from wasmgrid.marketplace.settings import MarketplaceSettings
from wasmgrid.monitor.rules import load_rules_file
from wasmgrid.monitor.settings import DEFAULT_RULES_FILE, MonitorSettings
from wasmgrid.runtime.settings import RuntimeSettings

ROOT = Path(__file__).resolve().parents[3]
OVERLAYS = ("dev", "prod")
SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "runtime": RuntimeSettings,
    "marketplace": MarketplaceSettings,
    "cache": CacheSettings,
    "monitor": MonitorSettings,
}
SERVICES = tuple(SETTINGS)
GRPC_PORT = {"gateway": 50050, "runtime": 50051, "marketplace": 50052, "cache": 50053}
GRPC_PORT["monitor"] = 50054
METRICS_PORT = {"gateway": 8080, "runtime": 9091, "marketplace": 9092, "cache": 9093}
METRICS_PORT["monitor"] = 9094
#: Services whose start waits for PostgreSQL (and migrates), and the setting that bounds it.
DB_WAIT = {"marketplace": "db_wait_seconds", "monitor": "database_wait_seconds"}

Obj = dict[str, Any]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Obj]]:
    if shutil.which("kubectl") is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl (with kustomize) is required in CI")
        pytest.skip("kubectl is not installed")
    return {o: k8s_validate.render(ROOT / "deploy/k8s/overlays" / o) for o in OVERLAYS}


def of_kind(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def workloads(objects: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet"):
            yield o["metadata"]["name"], o


def container(objects: list[Obj], service: str) -> Obj:
    deployment = of_kind(objects, "Deployment")[service]
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{service}: one container"
    return dict(containers[0])


def env_of(c: Obj, pod_name: str = "pod-0") -> dict[str, str]:
    """The container's environment, with Secret references replaced by dev-like values."""
    samples = {
        (s["metadata"]["name"], key): value
        for s in k8s_dev_secrets.dev_secrets("wasmgrid")
        for key, value in s["stringData"].items()
    }
    env = {}
    for item in c.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        source = item["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[item["name"]] = samples[(ref["name"], ref["key"])]
        elif source.get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[item["name"]] = pod_name
        else:
            raise AssertionError(f"unexpected env source {source}")
    return env


def settings_for(service: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for key in list(os.environ):
        if key.startswith("WASMGRID_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return SETTINGS[service]()


def variable_names(cls: type[BaseSettings]) -> set[str]:
    """Every environment variable a settings class reads."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = set()
    for field_name, field in cls.model_fields.items():
        names.add(f"{prefix}{field_name}".upper())
        alias = field.validation_alias
        for choice in getattr(alias, "choices", [alias] if isinstance(alias, str) else []):
            names.add(str(choice).upper())
    return names


# --- images and containers ------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_is_one_deployment_running_its_own_image(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    objects = rendered[overlay]
    wasmgrid = {
        name: d
        for name, d in of_kind(objects, "Deployment").items()
        if "/wasmgrid/" in d["spec"]["template"]["spec"]["containers"][0]["image"]
    }
    assert sorted(wasmgrid) == sorted(SERVICES)
    for service in SERVICES:
        c = container(objects, service)
        repository, _, tag = c["image"].rpartition(":")
        assert repository.endswith(f"/wasmgrid/{service}"), c["image"]
        assert tag not in ("", "latest"), c["image"]
        # The image's entry point is `python -m wasmgrid.<service>` as PID 1.
        assert not {"command", "args"} & set(c)
    if overlay == "dev":
        assert container(objects, "gateway")["image"] == "localhost/wasmgrid/gateway:dev"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_probes_limits_and_a_locked_down_security_context(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    for name, workload in workloads(rendered[overlay]):
        pod = workload["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        account = of_kind(rendered[overlay], "ServiceAccount")[pod["serviceAccountName"]]
        assert account["automountServiceAccountToken"] is False, name
        for c in pod["containers"] + pod.get("initContainers", []):
            where = f"{name}/{c['name']}"
            assert {"readinessProbe", "livenessProbe"} <= set(c), where
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{where} {kind}"
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grpc_services_probe_readiness_and_liveness_natively_and_the_gateway_over_http(
    rendered: dict[str, list[Obj]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for service in SERVICES:
        c = container(rendered[overlay], service)
        if service == "gateway":
            assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            continue
        port = GRPC_PORT[service]
        # Readiness is the overall status (dependencies included); liveness is only "the
        # process serves", so a database outage never restarts a replica.
        assert c["readinessProbe"]["grpc"] == {"port": port}, service
        assert c["livenessProbe"]["grpc"] == {"port": port, "service": LIVENESS_SERVICE}
        assert c["startupProbe"]["grpc"] == {"port": port, "service": LIVENESS_SERVICE}
        if service in DB_WAIT:
            s = settings_for(service, env_of(c), monkeypatch)
            startup = c["startupProbe"]
            budget = startup["periodSeconds"] * startup["failureThreshold"]
            assert budget > getattr(s, DB_WAIT[service]), f"{service}: startup budget {budget}s"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_shutdown_fits_the_grace_period_and_liveness_does_not_cut_it_short(
    rendered: dict[str, list[Obj]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for service in SERVICES:
        c = container(rendered[overlay], service)
        pod = of_kind(rendered[overlay], "Deployment")[service]["spec"]["template"]["spec"]
        s = settings_for(service, env_of(c), monkeypatch)
        # GRACE + DRAIN, plus the gateway's delay before it stops accepting.
        needed = s.grace_seconds + s.drain_seconds + getattr(s, "shutdown_delay_seconds", 0)
        assert pod["terminationGracePeriodSeconds"] >= needed, service
        live = c["livenessProbe"]
        assert live["periodSeconds"] * live["failureThreshold"] >= needed, service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_wasmgrid_variable_is_a_real_setting_and_the_service_accepts_them(
    rendered: dict[str, list[Obj]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for service in SERVICES:
        c = container(rendered[overlay], service)
        env = env_of(c)
        known = variable_names(SETTINGS[service])
        unknown = sorted(k for k in env if k.startswith("WASMGRID_") and k not in known)
        assert not unknown, f"{service}: not settings of {SETTINGS[service].__name__}: {unknown}"
        s = settings_for(service, env, monkeypatch)
        assert s.host == "0.0.0.0", f"{service} must listen on the pod's address"
        declared = {p["containerPort"] for p in c["ports"]}
        assert s.grpc_port == GRPC_PORT[service]
        assert s.grpc_port in declared
        metrics = s.http_port if service == "gateway" else s.metrics_port
        assert metrics == METRICS_PORT[service]
        assert metrics in declared
        annotations = of_kind(rendered[overlay], "Deployment")[service]["spec"]["template"][
            "metadata"
        ]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(metrics)
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://monitor:{GRPC_PORT['monitor']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_spread_over_nodes(rendered: dict[str, list[Obj]], overlay: str) -> None:
    for service in SERVICES:
        pod = of_kind(rendered[overlay], "Deployment")[service]["spec"]["template"]["spec"]
        keys = {t["topologyKey"] for t in pod["topologySpreadConstraints"]}
        assert "kubernetes.io/hostname" in keys, service
        for t in pod["topologySpreadConstraints"]:
            assert t["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": service}


# --- discovery: Services and the addresses the services are given ---------------------


def service_ports(objects: list[Obj], name: str) -> set[int]:
    return {p["port"] for p in of_kind(objects, "Service")[name]["spec"]["ports"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_addresses_in_the_environment_name_services_that_exist(
    rendered: dict[str, list[Obj]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = rendered[overlay]
    runtime = of_kind(objects, "Service")["runtime-headless"]["spec"]
    assert runtime["clusterIP"] == "None", "the gateway must see every runtime replica"
    assert "runtime" not in of_kind(objects, "Service"), "the runtime has only its headless one"
    gateway = settings_for("gateway", env_of(container(objects, "gateway")), monkeypatch)
    assert gateway.runtime_targets == f"dns:///runtime-headless:{GRPC_PORT['runtime']}"
    runtime_settings = settings_for("runtime", env_of(container(objects, "runtime")), monkeypatch)
    addresses = [
        gateway.marketplace_addr,
        gateway.cache_addr,
        gateway.monitor_addr,
        runtime_settings.marketplace_addr,
    ]
    for address in addresses:
        host, _, port = address.rpartition(":")
        assert int(port) == GRPC_PORT[host], address
        assert int(port) in service_ports(objects, host), address


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_monitor_polls_every_replica_of_every_service(
    rendered: dict[str, list[Obj]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = rendered[overlay]
    monitor = settings_for("monitor", env_of(container(objects, "monitor")), monkeypatch)
    targets = {t.service: t for t in monitor.targets}
    assert sorted(targets) == sorted(SERVICES)
    for service, target in targets.items():
        assert target.dns_name == (f"{service}-headless", GRPC_PORT[service])
        headless = of_kind(objects, "Service")[f"{service}-headless"]["spec"]
        assert (headless["clusterIP"], headless["publishNotReadyAddresses"]) == ("None", True)
        assert headless["selector"] == {"app.kubernetes.io/name": service}
        assert target.metrics_url == f"http://{{host}}:{METRICS_PORT[service]}/metrics"
        assert {GRPC_PORT[service], METRICS_PORT[service]} <= service_ports(
            objects, f"{service}-headless"
        )


# --- configuration: ConfigMaps and Secrets --------------------------------------------


def mounted_file(objects: list[Obj], service: str, path: str) -> str:
    """The text of the ConfigMap key mounted at `path` in `service`'s container."""
    c = container(objects, service)
    pod = of_kind(objects, "Deployment")[service]["spec"]["template"]["spec"]
    directory, _, key = path.rpartition("/")
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == directory)
    assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates"
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    return str(of_kind(objects, "ConfigMap")[volume["configMap"]["name"]]["data"][key])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_mounted_routes_and_rules_are_what_the_services_load(
    rendered: dict[str, list[Obj]],
    overlay: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    objects = rendered[overlay]
    gateway = settings_for("gateway", env_of(container(objects, "gateway")), monkeypatch)
    routes = tmp_path / "routes.yaml"
    routes.write_text(mounted_file(objects, "gateway", gateway.routes_file))
    load_route_store(str(routes))  # raises RouteError naming the route and field
    monitor = settings_for("monitor", env_of(container(objects, "monitor")), monkeypatch)
    rules = mounted_file(objects, "monitor", str(monitor.rules_file))
    assert rules == DEFAULT_RULES_FILE.read_text(), "run scripts/k8s_generate.py"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_committed(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    objects = rendered[overlay]
    assert not of_kind(objects, "Secret")
    generated = {s["metadata"]["name"]: s["stringData"] for s in k8s_dev_secrets.dev_secrets("x")}
    for name, workload in workloads(objects):
        for c in workload["spec"]["template"]["spec"]["containers"]:
            for item in c.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in generated.get(ref["name"], {}), f"{name}: {ref}"
    for service in ("gateway", "cache"):
        env = {e["name"]: e for e in container(objects, service)["env"]}
        key = "WASMGRID_GATEWAY_REDIS_URL" if service == "gateway" else "WASMGRID_CACHE_REDIS_URL"
        assert env[key]["valueFrom"]["secretKeyRef"]["name"] == "wasmgrid-redis"


def test_dev_secrets_are_consistent_with_the_datastores(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {s["metadata"]["name"]: s["stringData"] for s in k8s_dev_secrets.dev_secrets("w")}
    password = secrets["wasmgrid-postgresql"]["password"]
    assert f":{password}@postgresql:5432/" in secrets["wasmgrid-database"]["marketplace-url"]
    assert secrets["wasmgrid-redis"]["url"].startswith(
        f"redis://:{secrets['wasmgrid-redis']['password']}@redis:6379/"
    )
    # The services' own validators accept them (key length, token format).
    env = {
        "WASMGRID_RUNTIME_ARTIFACT_KEY": secrets["wasmgrid-artifact-key"]["key"],
        "WASMGRID_MARKETPLACE_BOOTSTRAP_ADMIN_TOKEN": secrets["wasmgrid-bootstrap-admin"]["token"],
        "WASMGRID_MARKETPLACE_DATABASE_URL": secrets["wasmgrid-database"]["marketplace-url"],
    }
    settings_for("runtime", env, monkeypatch)
    settings_for("marketplace", env, monkeypatch)
    assert k8s_dev_secrets.dev_secrets("w") != k8s_dev_secrets.dev_secrets("w"), "fresh values"


# --- network policies -----------------------------------------------------------------

WORLD = "(any source)"
DNS = "kube-dns"


def _peers(rule: Obj, key: str, apps: set[str]) -> set[str]:
    """The peers of one ingress/egress rule: app names in the namespace, or named outsiders."""
    if key not in rule:
        return {WORLD}
    out = set()
    for peer in rule[key]:
        if "ipBlock" in peer:
            out.add(f"ip:{peer['ipBlock']['cidr']}")
        elif "namespaceSelector" in peer:
            ns = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            pod = peer.get("podSelector", {}).get("matchLabels", {})
            out.add(DNS if pod.get("k8s-app") == "kube-dns" else f"{ns}/{pod}")
        else:
            out |= _selected(peer["podSelector"], apps)
    return out


def _selected(selector: Obj, apps: set[str]) -> set[str]:
    if not selector:
        return set(apps)
    if "matchLabels" in selector:
        assert set(selector["matchLabels"]) == {"app.kubernetes.io/name"}, selector
        return {selector["matchLabels"]["app.kubernetes.io/name"]} & apps
    (expr,) = selector["matchExpressions"]
    assert (expr["key"], expr["operator"]) == ("app.kubernetes.io/name", "In")
    return set(expr["values"]) & apps


Rule = tuple[str, str, str, int | str]  # (app, peer, protocol, port or "*")


def _policy_rules(objects: list[Obj], names: set[str]) -> tuple[set[Rule], set[Rule]]:
    """Every (app, peer, protocol, port) the NetworkPolicies allow in, and out."""
    ingress: set[Rule] = set()
    egress: set[Rule] = set()
    for policy in of_kind(objects, "NetworkPolicy").values():
        spec = policy["spec"]
        for app in _selected(spec["podSelector"], names):
            for direction, key, into in (("ingress", "from", ingress), ("egress", "to", egress)):
                for rule in spec.get(direction, []):
                    for peer in _peers(rule, key, names):
                        for port in rule.get("ports", [{"port": "*"}]):
                            into.add((app, peer, port.get("protocol", "TCP"), port["port"]))
    return ingress, egress


def allowed_flows(objects: list[Obj]) -> set[tuple[str, str, int]]:
    """(source, destination, port) for every connection both ends' policies allow.

    A connection inside the namespace needs the source's egress and the destination's
    ingress; one from outside needs only the ingress, one to outside only the egress.
    Ports are those the destination's containers declare (TCP), and 53/UDP for DNS.
    """
    apps: dict[str, set[tuple[str, Any]]] = {}
    for name, w in workloads(objects):
        assert w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == name
        apps[name] = {
            (p.get("protocol", "TCP"), p["containerPort"])
            for c in w["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", [])
        }
    names = set(apps)
    ingress, egress = _policy_rules(objects, names)
    flows = set()
    sources = names | {p for _, p, _, _ in ingress if p not in names}
    destinations = names | {p for _, p, _, _ in egress if p not in names and p != WORLD}
    for src in sources:
        for dst in destinations:
            ports = apps.get(dst) or {("TCP", p) for (_, peer, _, p) in egress if peer == dst}
            if dst == DNS:
                ports = {("UDP", 53), ("TCP", 53)}
            for proto, port in ports:
                out_ok = src not in names or any(
                    (src, peer, proto, p) in egress for peer in (dst, WORLD) for p in (port, "*")
                )
                in_ok = dst not in names or any(
                    (dst, peer, proto, p) in ingress for peer in (src, WORLD) for p in (port, "*")
                )
                if out_ok and in_ok and (src in names or dst in names):
                    flows.add((src, dst, port) if proto == "TCP" else (src, dst, -port))
    return flows


def architecture(overlay: str) -> set[tuple[str, str, int]]:
    """The flows of the architecture (DESIGN.md), for one overlay; -53 is DNS over UDP."""
    flows = {(WORLD, "gateway", 8080)}
    for svc, port in (("runtime", 50051), ("marketplace", 50052), ("cache", 50053)):
        flows.add(("gateway", svc, port))
    flows.add(("runtime", "marketplace", 50052))
    for svc in SERVICES:
        flows.add((svc, "monitor", 50054))  # OTLP (and the gateway's monitor calls)
        flows.add(("monitor", svc, GRPC_PORT[svc]))  # health
        flows.add(("monitor", svc, METRICS_PORT[svc]))  # scrape
        flows |= {(svc, DNS, 53), (svc, DNS, -53)}
    if overlay == "dev":
        flows |= {("marketplace", "postgresql", 5432), ("monitor", "postgresql", 5432)}
        flows |= {("gateway", "redis", 6379), ("cache", "redis", 6379)}
        for store in ("postgresql", "redis"):
            flows |= {(store, DNS, 53), (store, DNS, -53)}
    else:
        flows |= {("marketplace", "ip:0.0.0.0/0", 5432), ("monitor", "ip:0.0.0.0/0", 5432)}
        flows |= {("gateway", "ip:0.0.0.0/0", 6379), ("cache", "ip:0.0.0.0/0", 6379)}
        prometheus = "monitoring/{'app.kubernetes.io/name': 'prometheus'}"
        flows |= {(prometheus, svc, METRICS_PORT[svc]) for svc in SERVICES}
    return flows


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_exactly_the_flows_of_the_architecture(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    objects = rendered[overlay]
    deny = of_kind(objects, "NetworkPolicy")["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    flows = allowed_flows(objects)
    expected = architecture(overlay)
    assert sorted(flows - expected, key=str) == [], "allowed but not in the architecture"
    assert sorted(expected - flows, key=str) == [], "in the architecture but blocked"


# --- the overlays' own parts ------------------------------------------------------------


def test_dev_runs_one_replica_each_and_pinned_datastores(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["dev"]
    for name, workload in workloads(objects):
        assert workload["spec"]["replicas"] == 1, name
    stores = {n: w for n, w in workloads(objects) if n in ("postgresql", "redis")}
    assert of_kind(objects, "StatefulSet").keys() == {"postgresql"}
    for name, workload in stores.items():
        image = workload["spec"]["template"]["spec"]["containers"][0]["image"]
        repository, _, tag = image.rpartition(":")
        assert repository == f"docker.io/library/{name.replace('postgresql', 'postgres')}"
        assert re.match(r"^\d+\.\d+", tag), f"{image}: pin a release, not a moving tag"


def test_prod_scales_the_gateway_and_runtime_and_budgets_disruptions(
    rendered: dict[str, list[Obj]],
) -> None:
    objects = rendered["prod"]
    deployments = of_kind(objects, "Deployment")
    hpas = of_kind(objects, "HorizontalPodAutoscaler")
    assert sorted(hpas) == ["gateway", "runtime"]
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert hpa["spec"]["minReplicas"] >= 2
        # An apply must not reset the count the autoscaler chose.
        assert "replicas" not in deployments[name]["spec"], name
    for name in ("marketplace", "cache"):
        assert deployments[name]["spec"]["replicas"] >= 2, name
    pdbs = of_kind(objects, "PodDisruptionBudget")
    for service in SERVICES:
        spec = pdbs[service]["spec"]
        assert spec["selector"] == {"matchLabels": {"app.kubernetes.io/name": service}}
        assert spec["maxUnavailable"] == 1


def test_prod_scrapes_every_service_once_by_service_monitor(
    rendered: dict[str, list[Obj]],
) -> None:
    objects = rendered["prod"]
    monitors = of_kind(objects, "ServiceMonitor")
    assert sorted(monitors) == sorted(SERVICES)
    services = of_kind(objects, "Service")
    for service, sm in monitors.items():
        spec = sm["spec"]
        selected = [
            s
            for s in services.values()
            if spec["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
        ]
        assert [s["metadata"]["name"] for s in selected] == [f"{service}-headless"]
        (endpoint,) = spec["endpoints"]
        port = next(p for p in selected[0]["spec"]["ports"] if p["name"] == endpoint["port"])
        assert (port["port"], endpoint["path"]) == (METRICS_PORT[service], "/metrics")
        assert spec["jobLabel"] == "app.kubernetes.io/name", "job = the service's name"


def test_prod_alerts_are_the_monitors_default_rules(rendered: dict[str, list[Obj]]) -> None:
    (rule,) = of_kind(rendered["prod"], "PrometheusRule").values()
    expected = k8s_generate.prometheus_rule(load_rules_file(DEFAULT_RULES_FILE))
    assert rule["spec"] == expected["spec"], "run scripts/k8s_generate.py"
    alerts = {a["alert"]: a for a in rule["spec"]["groups"][0]["rules"]}
    shipped = load_rules_file(DEFAULT_RULES_FILE)
    assert sorted(alerts) == sorted(r.name for r in shipped)
    for r in shipped:
        assert alerts[r.name]["labels"]["severity"] == r.severity.name.lower()
        assert r.expression.query.metric in alerts[r.name]["expr"]


def test_prod_alert_expressions_are_valid_promql(
    rendered: dict[str, list[Obj]], tmp_path: Path
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool (Debian package prometheus) is required in CI")
        pytest.skip("promtool is not installed")
    (rule,) = of_kind(rendered["prod"], "PrometheusRule").values()
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_prod_dashboard_shows_rate_latency_errors_outcomes_and_cache_hits(
    rendered: dict[str, list[Obj]],
) -> None:
    cm = of_kind(rendered["prod"], "ConfigMap")["wasmgrid-grafana-dashboard"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["wasmgrid.json"])
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for needed in (
        "rate(wasmgrid_gateway_http_requests_total",
        "histogram_quantile(0.5, sum by (le) (rate(wasmgrid_gateway_http_request_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(wasmgrid_gateway_http_request_seconds_bucket",
        'wasmgrid_gateway_http_requests_total{status_class="5xx"}',
        "sum by (outcome) (rate(wasmgrid_runtime_invocations_total",
        'wasmgrid_cache_operations_total{op="get",result="hit"}',
    ):
        assert needed in exprs, needed
    # Every metric it plots is one a service exports.
    sources = " ".join(p.read_text() for p in ROOT.glob("services/*/src/wasmgrid/*/*.py"))
    sources += (ROOT / "libs/common/src/wasmgrid/common/metrics.py").read_text()
    for metric in set(re.findall(r"\b(wasmgrid_[a-z_]+|grpc_server_[a-z_]+)", exprs)):
        base = re.sub(r"_(bucket|count|sum)$", "", metric)
        assert f'"{base}"' in sources, f"{metric}: no service exports it"
