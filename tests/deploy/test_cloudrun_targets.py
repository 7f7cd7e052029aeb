"""The Cloud Run make targets, run against a stand-in gcloud: the exact commands each issues."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from deploy_helpers import ROOT

VARIABLES = ("PROJECT=proj", "REGION=europe-west1", "IMAGE_TAG=v7")
IMAGE = "europe-west1-docker.pkg.dev/proj/penguin/penguin-classifier:v7"
WHERE = ["--project=proj", "--region=europe-west1"]
BUILD = ["builds", "submit", "--project=proj", f"--tag={IMAGE}", "--quiet", str(ROOT)]
DESCRIBE = ["run", "services", "describe", "penguin-classifier", *WHERE, "--format=json"]


def deploy_command(image: str = IMAGE, min_instances: int = 0) -> list[str]:
    return [
        "run", "deploy", "penguin-classifier", *WHERE,
        f"--image={image}",
        "--port=8080",
        "--cpu=2",
        "--memory=1536Mi",
        "--concurrency=32",
        "--timeout=60",
        f"--min-instances={min_instances}",
        "--max-instances=4",
        "--execution-environment=gen2",
        "--cpu-boost",
        "--cpu-throttling",
        "--startup-probe=httpGet.path=/readyz,periodSeconds=2,timeoutSeconds=1,failureThreshold=60",
        "--liveness-probe=httpGet.path=/healthz,periodSeconds=15,timeoutSeconds=3,"
        "failureThreshold=3",
        "--allow-unauthenticated",
    ]


def traffic(*flags: str) -> list[str]:
    return ["run", "services", "update-traffic", "penguin-classifier", *WHERE, *flags, "--quiet"]


def revision(name: str, created: str, ready: bool = True) -> dict:
    return {"metadata": {"name": name, "creationTimestamp": created},
            "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


REVISIONS = [
    revision("penguin-classifier-00004-new", "2026-05-04T10:00:00.000000Z"),
    revision("penguin-classifier-00003-bad", "2026-05-03T10:00:00.000000Z", ready=False),
    revision("penguin-classifier-00002-prev", "2026-05-02T10:00:00.000000Z"),
    revision("penguin-classifier-00001-old", "2026-05-01T10:00:00.000000Z"),
]


def service(*targets: dict) -> dict:
    return {"status": {"url": "https://penguin-classifier-123.europe-west1.run.app",
                       "traffic": list(targets)}}


def test_deploy_builds_then_deploys_with_every_setting_and_all_traffic(fake_gcloud) -> None:
    result = fake_gcloud.make("deploy", *VARIABLES)
    assert result.returncode == 0, result.stderr
    assert fake_gcloud.calls() == [
        BUILD,
        [*deploy_command(), "--quiet"],
        traffic("--to-latest"),
    ]
    # Each command is echoed before it runs, so a release log shows exactly what was done.
    assert f"+ gcloud builds submit --project=proj --tag={IMAGE}" in result.stdout


def test_deploy_an_existing_image_with_a_warm_instance(fake_gcloud) -> None:
    image = "europe-west1-docker.pkg.dev/proj/penguin/penguin-classifier:v6"
    result = fake_gcloud.make("deploy", *VARIABLES, f"IMAGE={image}", "MIN_INSTANCES=1")
    assert result.returncode == 0, result.stderr
    assert fake_gcloud.calls() == [
        [*deploy_command(image, min_instances=1), "--quiet"],
        traffic("--to-latest"),
    ]


def test_deploy_without_project_stops_before_any_gcloud_call(fake_gcloud) -> None:
    result = fake_gcloud.make("deploy", "REGION=europe-west1")
    assert result.returncode != 0
    assert "PROJECT is empty" in result.stderr
    assert fake_gcloud.calls() == []


def test_deploy_yaml_replaces_the_service_from_the_rendered_spec(fake_gcloud) -> None:
    result = fake_gcloud.make("deploy-yaml", *VARIABLES)
    assert result.returncode == 0, result.stderr
    build, replace, iam = fake_gcloud.entries()
    assert build["argv"] == BUILD
    spec_path = replace["argv"][3]
    assert spec_path.endswith("/service.yaml")
    assert replace["argv"] == ["run", "services", "replace", spec_path, *WHERE, "--quiet"]
    applied = yaml.safe_load(replace["file"])
    assert applied["metadata"]["name"] == "penguin-classifier"
    assert applied["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    assert not Path(spec_path).exists()  # a temporary file, not left in the work tree
    assert iam["argv"] == ["run", "services", "add-iam-policy-binding", "penguin-classifier",
                           *WHERE, "--member=allUsers", "--role=roles/run.invoker", "--quiet"]


def test_deploy_green_gets_no_traffic_and_is_smoke_tested_at_its_own_url(
    fake_gcloud, canned_service, tmp_path: Path
) -> None:
    fake_gcloud.set_state(service(
        {"revisionName": "penguin-classifier-00001-old", "percent": 100},
        {"revisionName": "penguin-classifier-00002-new", "tag": "green", "url": canned_service.url},
    ))
    photo = tmp_path / "gentoo.jpg"
    photo.write_bytes(b"\xff\xd8 photo")
    result = fake_gcloud.make("deploy-green", *VARIABLES, f"PHOTO={photo}")
    assert result.returncode == 0, result.stderr
    assert fake_gcloud.calls() == [
        BUILD,
        [*deploy_command(), "--no-traffic", "--tag=green", "--quiet"],
        DESCRIBE,
    ]
    assert [(r["method"], r["path"]) for r in canned_service.requests] == [
        ("GET", "/readyz"), ("POST", "/predict")]
    assert b"\xff\xd8 photo" in canned_service.requests[1]["body"]
    assert "smoke test passed" in result.stdout


def test_deploy_green_fails_when_the_smoke_test_fails(fake_gcloud, canned_service,
                                                      tmp_path: Path) -> None:
    canned_service.predict_status = 500
    fake_gcloud.set_state(service(
        {"revisionName": "penguin-classifier-00002-new", "tag": "green", "url": canned_service.url},
    ))
    photo = tmp_path / "gentoo.jpg"
    photo.write_bytes(b"photo")
    result = fake_gcloud.make("deploy-green", *VARIABLES, f"PHOTO={photo}")
    assert result.returncode != 0
    assert "failed its smoke test" in result.stderr
    assert not [call for call in fake_gcloud.calls() if "update-traffic" in call]


def test_smoke_without_a_green_revision_says_so(fake_gcloud) -> None:
    fake_gcloud.set_state(service({"revisionName": "penguin-classifier-00001-old",
                                   "percent": 100}))
    result = fake_gcloud.make("smoke", *VARIABLES)
    assert result.returncode != 0
    assert "no revision is tagged 'green'" in result.stderr
    assert fake_gcloud.calls() == [DESCRIBE]


def test_promote_moves_all_traffic_to_green(fake_gcloud) -> None:
    result = fake_gcloud.make("promote", *VARIABLES)
    assert result.returncode == 0, result.stderr
    assert fake_gcloud.calls() == [traffic("--to-tags=green=100")]


def test_canary_sends_a_share_to_green(fake_gcloud) -> None:
    result = fake_gcloud.make("canary", *VARIABLES, "PERCENT=10")
    assert result.returncode == 0, result.stderr
    assert fake_gcloud.calls() == [traffic("--to-tags=green=10")]


@pytest.mark.parametrize("percent", ["0", "100", "ten"])
def test_canary_refuses_a_share_that_is_not_a_canary(fake_gcloud, percent: str) -> None:
    result = fake_gcloud.make("canary", *VARIABLES, f"PERCENT={percent}")
    assert result.returncode != 0
    assert fake_gcloud.calls() == []


def test_rollback_after_a_promote_returns_to_the_previous_ready_revision(fake_gcloud) -> None:
    fake_gcloud.set_state(
        service({"revisionName": "penguin-classifier-00004-new", "percent": 100, "tag": "green"}),
        REVISIONS,
    )
    result = fake_gcloud.make("rollback", *VARIABLES)
    assert result.returncode == 0, result.stderr
    assert fake_gcloud.calls() == [
        DESCRIBE,
        ["run", "revisions", "list", "--service=penguin-classifier", *WHERE, "--format=json"],
        traffic("--to-revisions=penguin-classifier-00002-prev=100"),  # 00003 never got ready
    ]
    assert "rolling back to penguin-classifier-00002-prev" in result.stdout


def test_rollback_to_a_chosen_revision_lists_nothing(fake_gcloud) -> None:
    result = fake_gcloud.make("rollback", *VARIABLES, "REVISION=penguin-classifier-00001-old")
    assert result.returncode == 0, result.stderr
    assert fake_gcloud.calls() == [traffic("--to-revisions=penguin-classifier-00001-old=100")]


def test_previous_revision_during_a_canary_is_the_one_keeping_most_traffic(
    cloudrun: ModuleType,
) -> None:
    during_canary = service(
        {"revisionName": "penguin-classifier-00001-old", "percent": 90},
        {"revisionName": "penguin-classifier-00004-new", "percent": 10, "tag": "green"},
    )
    assert cloudrun.previous_revision(during_canary, REVISIONS) == "penguin-classifier-00001-old"


def test_previous_revision_refuses_when_there_is_none(cloudrun: ModuleType) -> None:
    only = service({"revisionName": "penguin-classifier-00001-old", "percent": 100})
    with pytest.raises(cloudrun.DeployError, match="nothing to roll back to"):
        cloudrun.previous_revision(only, REVISIONS)
    with pytest.raises(cloudrun.DeployError, match="no revision serves traffic"):
        cloudrun.previous_revision(service(), REVISIONS)


def test_docker_targets_build_and_run_like_cloud_run(fake_gcloud) -> None:
    assert fake_gcloud.make("docker-build").returncode == 0
    assert fake_gcloud.make("docker-run").returncode == 0
    assert fake_gcloud.calls("docker") == [
        ["build", "--tag", "penguin-classifier:local", "."],
        # Cloud Run's CPU and memory; a read-only root with a tmpfs /tmp proves nothing else
        # is written to.
        ["run", "--rm", "--publish", "8080:8080", "--cpus", "2", "--memory", "1536m", "--read-only",
         "--tmpfs", "/tmp", "penguin-classifier:local"],
    ]


def test_every_target_is_listed_by_make_help(fake_gcloud) -> None:
    listed = {line.split()[0].removeprefix("\x1b[36m")
              for line in fake_gcloud.make("help").stdout.splitlines()}
    for target in ("docker-build", "docker-run", "runtime-venv", "requirements", "lint-deploy",
                   "deploy", "deploy-yaml", "deploy-green", "smoke", "promote", "canary",
                   "rollback"):
        assert target in listed


NO_ACCOUNT = "You do not currently have an active account selected"


def test_the_real_gcloud_accepts_every_command_the_targets_issue(gcloud_offline) -> None:
    """The argument lists asserted above, handed to the real gcloud (offline, no account).

    gcloud checks a command's flags, and the keys of --startup-probe and --liveness-probe,
    before it asks for an account: reaching "no active account" means the command parsed.
    Each gcloud start costs a second or two, so only the commands with flags that matter are
    here: the green deploy (every deploy flag, plus --no-traffic and --tag), the build and the
    three kinds of traffic move. `run services replace` is checked in test_knative_service.py.
    """
    commands = [
        BUILD,
        [*deploy_command(), "--no-traffic", "--tag=green", "--quiet"],
        traffic("--to-latest"),
        traffic("--to-tags=green=10"),
        traffic("--to-revisions=penguin-classifier-00002-prev=100"),
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(gcloud_offline, commands))
    for command, result in zip(commands, results, strict=True):
        assert NO_ACCOUNT in result.stderr, (command, result.stderr)

    # And a misspelt probe key is refused, so the check above can fail.
    typo = [*deploy_command(), "--quiet"]
    typo[typo.index("--liveness-probe=httpGet.path=/healthz,periodSeconds=15,timeoutSeconds=3,"
                    "failureThreshold=3")] = "--liveness-probe=httpGet.pth=/healthz"
    result = gcloud_offline(typo)
    assert NO_ACCOUNT not in result.stderr and "httpGet.pth" in result.stderr
