"""scripts/rollout.py against a fake kubectl on PATH.

No cluster exists here, so the boundary tested is kubectl's command line: a small
script that keeps Deployments' revisions in a JSON file, records every call, and fails
``rollout status`` on cue. What a real API server and controller do between those calls
is kubectl's business, not this script's.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import rollout

ROOT = Path(__file__).resolve().parents[2]

FAKE = """#!{python}
import json, os, sys
import yaml
path = os.environ["FAKE_KUBECTL_STATE"]
state = json.load(open(path))
args = sys.argv[1:]
if args[:1] == ["--context"]:
    state["context"] = args[1]
    args = args[2:]
state["calls"].append(args)
stdin = sys.stdin.read() if "-" in args else ""
code = 0
deps = state["deployments"]
if args[0] == "kustomize":
    sys.stdout.write(state["render"])
elif args[0] == "get":
    key = args[4] + "/" + args[2]
    if deps.get(key) is not None:
        rev = str(deps[key])
        doc = {{"metadata": {{"annotations": {{"deployment.kubernetes.io/revision": rev}}}}}}
        print(json.dumps(doc))
elif args[0] == "apply":
    state["applied"] = stdin
    for doc in yaml.safe_load_all(stdin):
        if doc and doc["kind"] == "Deployment":
            key = doc["metadata"]["namespace"] + "/" + doc["metadata"]["name"]
            if doc["metadata"]["name"] not in state["unchanged"]:
                deps[key] = (deps.get(key) or 0) + 1
elif args[:2] == ["rollout", "status"]:
    name = args[2].split("/")[1]
    if name in state["fail_status"] and name not in state["undone"]:
        sys.stderr.write("error: timed out waiting for the condition\\n")
        code = 1
elif args[:2] == ["rollout", "undo"]:
    name = args[2].split("/")[1]
    state["undone"].append(name)
    key = args[4] + "/" + name
    deps[key] = deps[key] + 1
json.dump(state, open(path, "w"))
sys.exit(code)
"""


def deployment(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "wasmgrid"},
        "spec": {"template": {"spec": {"containers": [{"name": name, "image": image}]}}},
    }


RENDER = yaml.safe_dump_all(
    [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": "wasmgrid"},
        },
        deployment("gateway", "registry.example.com/wasmgrid/gateway:0.1.0"),
        deployment("runtime", "registry.example.com/wasmgrid/runtime:0.1.0"),
        deployment("redis", "docker.io/library/redis:7.4.5"),
    ]
)


class FakeCluster:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        kubectl = bin_dir / "kubectl"
        kubectl.write_text(FAKE.format(python=sys.executable))
        kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
        self.path = tmp_path / "state.json"
        self.state: dict[str, Any] = {
            "render": RENDER,
            "deployments": {"wasmgrid/gateway": 4, "wasmgrid/runtime": 7},
            "fail_status": [],
            "unchanged": [],
            "undone": [],
            "calls": [],
        }
        self.save()
        monkeypatch.setenv("FAKE_KUBECTL_STATE", str(self.path))
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def save(self) -> None:
        self.path.write_text(json.dumps(self.state))

    def load(self) -> dict[str, Any]:
        return dict(json.loads(self.path.read_text()))


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    return FakeCluster(tmp_path, monkeypatch)


def run(*args: str) -> int:
    return rollout.main(["deploy/k8s/overlays/prod", *args])


def test_a_good_rollout_applies_the_release_images_and_waits_for_every_deployment(
    cluster: FakeCluster,
) -> None:
    assert run("--registry", "ghcr.io/acme", "--tag", "v1.2.3", "--timeout", "90s") == 0
    state = cluster.load()
    applied = list(yaml.safe_load_all(state["applied"]))
    images = [d["spec"]["template"]["spec"]["containers"][0]["image"] for d in applied[1:]]
    assert images == [
        "ghcr.io/acme/wasmgrid/gateway:v1.2.3",
        "ghcr.io/acme/wasmgrid/runtime:v1.2.3",
        "docker.io/library/redis:7.4.5",  # not one of ours: untouched
    ]
    statuses = [c for c in state["calls"] if c[:2] == ["rollout", "status"]]
    assert statuses == [
        ["rollout", "status", f"deployment/{n}", "-n", "wasmgrid", "--timeout=90s"]
        for n in ("gateway", "runtime", "redis")
    ]
    assert not [c for c in state["calls"] if c[:2] == ["rollout", "undo"]]


def test_a_failed_rollout_undoes_every_deployment_it_changed_and_exits_non_zero(
    cluster: FakeCluster,
) -> None:
    cluster.state["fail_status"] = ["runtime"]
    cluster.state["unchanged"] = ["redis"]
    cluster.state["deployments"]["wasmgrid/redis"] = 2
    cluster.save()
    assert run("--registry", "ghcr.io/acme", "--tag", "v2") == 1
    calls = cluster.load()["calls"]
    undos = [c for c in calls if c[:2] == ["rollout", "undo"]]
    # gateway (rolled out fine) and runtime (failed) changed; redis did not.
    assert undos == [
        ["rollout", "undo", "deployment/gateway", "-n", "wasmgrid", "--to-revision=4"],
        ["rollout", "undo", "deployment/runtime", "-n", "wasmgrid", "--to-revision=7"],
    ]
    # Each rollback is waited for too.
    after = calls[calls.index(undos[0]) :]
    assert ["rollout", "status", "deployment/runtime", "-n", "wasmgrid", "--timeout=300s"] in after


def test_a_new_deployment_is_named_not_rolled_back(
    cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    del cluster.state["deployments"]["wasmgrid/runtime"]
    cluster.state["fail_status"] = ["runtime"]
    cluster.save()
    assert run() == 1
    undone = [c[2] for c in cluster.load()["calls"] if c[:2] == ["rollout", "undo"]]
    assert undone == ["deployment/gateway"]
    assert "deployment/runtime is new: no revision to roll back to" in capsys.readouterr().out


def test_the_context_is_passed_to_every_kubectl_call(cluster: FakeCluster) -> None:
    assert run("--context", "staging") == 0
    assert cluster.load()["context"] == "staging"


def test_registry_without_tag_is_refused(
    cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--registry", "ghcr.io/acme") == 2
    assert "--registry and --tag go together" in capsys.readouterr().err
    assert not [c for c in cluster.load()["calls"] if c[0] == "apply"]


def test_a_failing_render_applies_nothing(cluster: FakeCluster) -> None:
    cluster.state["render"] = "{not yaml"
    cluster.save()
    with pytest.raises(yaml.YAMLError):
        run()
    assert not [c for c in cluster.load()["calls"] if c[0] == "apply"]


def test_the_real_prod_overlay_renders_with_release_images() -> None:
    if subprocess.run(["which", "kubectl"], capture_output=True).returncode != 0:
        pytest.skip("kubectl is not installed")
    text = rollout.render(
        rollout.Kubectl(), ROOT / "deploy/k8s/overlays/prod", "ghcr.io/acme", "v9"
    )
    images = {
        c["image"]
        for d in yaml.safe_load_all(text)
        if d and d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"ghcr.io/acme/wasmgrid/{s}:v9" for s in rollout.SERVICES}
