"""deploy/service.yaml: the same settings as `make deploy`, within the Knative Serving API."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import yaml
from deploy_helpers import ROOT

SERVICE_YAML = ROOT / "deploy" / "service.yaml"
IMAGE = "europe-west1-docker.pkg.dev/proj/penguin/penguin-classifier:v7"

# Fields of a Knative Serving v1 container and revision spec that this file may use.
KNATIVE_CONTAINER_FIELDS = {"name", "image", "ports", "resources", "env", "startupProbe",
                            "livenessProbe", "readinessProbe", "securityContext"}
KNATIVE_REVISION_FIELDS = {"containerConcurrency", "timeoutSeconds", "containers",
                           "serviceAccountName"}


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(SERVICE_YAML.read_text())


@pytest.fixture(scope="module")
def container(spec: dict) -> dict:
    (container,) = spec["spec"]["template"]["spec"]["containers"]
    return container


def test_is_a_knative_serving_service(spec: dict, container: dict) -> None:
    assert spec["apiVersion"] == "serving.knative.dev/v1"
    assert spec["kind"] == "Service"
    assert set(spec["spec"]["template"]["spec"]) <= KNATIVE_REVISION_FIELDS
    assert set(container) <= KNATIVE_CONTAINER_FIELDS
    for key in spec["spec"]["template"]["metadata"]["annotations"]:
        # Knative's own, or Cloud Run's (which a Knative cluster ignores).
        assert key.startswith(("autoscaling.knative.dev/", "run.googleapis.com/")), key
    assert spec["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]


def test_settings_match_the_gcloud_deploy_flags(spec: dict, container: dict,
                                                cloudrun: ModuleType) -> None:
    template = spec["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert spec["metadata"]["name"] == cloudrun.IMAGE_NAME
    assert template["spec"]["containerConcurrency"] == cloudrun.CONCURRENCY
    assert template["spec"]["timeoutSeconds"] == cloudrun.TIMEOUT_SECONDS
    assert container["ports"] == [{"name": "http1", "containerPort": cloudrun.PORT}]
    assert container["resources"] == {"limits": {"cpu": cloudrun.CPU, "memory": cloudrun.MEMORY}}
    assert annotations == {
        "autoscaling.knative.dev/minScale": str(cloudrun.MIN_INSTANCES),
        "autoscaling.knative.dev/maxScale": str(cloudrun.MAX_INSTANCES),
        "run.googleapis.com/execution-environment": cloudrun.EXECUTION_ENVIRONMENT,
        "run.googleapis.com/startup-cpu-boost": str(cloudrun.CPU_BOOST).lower(),
        "run.googleapis.com/cpu-throttling": str(cloudrun.CPU_THROTTLING).lower(),
    }
    for field, flags in (("startupProbe", cloudrun.STARTUP_PROBE),
                         ("livenessProbe", cloudrun.LIVENESS_PROBE)):
        probe = dict(container[field])
        assert probe.pop("httpGet") == {"path": flags["httpGet.path"]}
        assert probe == {key: value for key, value in flags.items() if "." not in key}


def test_probes_fit_cloud_run_limits(container: dict) -> None:
    startup, liveness = container["startupProbe"], container["livenessProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] <= 240
    for probe in (startup, liveness):
        assert probe["timeoutSeconds"] <= probe["periodSeconds"]
    assert startup["httpGet"]["path"] == "/readyz"
    assert liveness["httpGet"]["path"] == "/healthz"


def test_render_fills_in_image_and_service_name(cloudrun: ModuleType) -> None:
    rendered = yaml.safe_load(
        cloudrun.render_service_yaml(IMAGE, "penguin-staging", SERVICE_YAML.read_text())
    )
    assert rendered["metadata"]["name"] == "penguin-staging"
    (container,) = rendered["spec"]["template"]["spec"]["containers"]
    assert container["image"] == IMAGE
    assert container["name"] == "penguin-classifier"  # the container keeps its own name


def test_render_refuses_a_template_without_the_placeholder(cloudrun: ModuleType) -> None:
    with pytest.raises(cloudrun.DeployError, match="IMAGE_URL"):
        cloudrun.render_service_yaml(IMAGE, "s", "metadata:\n  name: s\n")


def test_gcloud_parses_it_as_a_cloud_run_service(gcloud_offline, cloudrun: ModuleType,
                                                 tmp_path: Path) -> None:
    """The real gcloud converts the YAML into Cloud Run's Service message before it needs an
    account: an unknown field or a wrong type fails there. Getting as far as "no account" means
    the whole file was accepted. The second half proves the check can fail."""
    good = tmp_path / "service.yaml"
    good.write_text(cloudrun.render_service_yaml(IMAGE, "penguin-classifier",
                                                 SERVICE_YAML.read_text()))
    command = ["run", "services", "replace", "--dry-run", "--region=europe-west1",
               "--project=proj"]
    result = gcloud_offline([*command[:3], str(good), *command[3:]])
    assert "Failed to parse" not in result.stderr
    assert "do not currently have an active account" in result.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("containerConcurrency", "containerConcurency"))
    result = gcloud_offline([*command[:3], str(bad), *command[3:]])
    assert "Failed to parse" in result.stderr
    assert "containerConcurency" in result.stderr
