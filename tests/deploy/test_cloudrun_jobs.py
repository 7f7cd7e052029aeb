"""`make deploy-job` and `make run-job` against a stand-in gcloud: the exact commands issued."""

from __future__ import annotations

from test_cloudrun_targets import BUILD, IMAGE, VARIABLES, WHERE

JOB_DEFAULTS = [
    "--command=python,-m,service.batch_command",
    "--tasks=10",
    "--parallelism=10",
    "--task-timeout=3600s",
    "--max-retries=3",
    "--cpu=4",
    "--memory=4Gi",
    "--execution-environment=gen2",
]


def test_deploy_job_builds_then_creates_or_updates_the_job(fake_gcloud) -> None:
    result = fake_gcloud.make("deploy-job", *VARIABLES)
    assert result.returncode == 0, result.stderr
    assert fake_gcloud.calls() == [
        BUILD,
        ["run", "jobs", "deploy", "penguin-classify", *WHERE, f"--image={IMAGE}",
         *JOB_DEFAULTS, "--quiet"],
    ]


def test_deploy_job_settings_are_make_variables(fake_gcloud) -> None:
    image = "europe-west1-docker.pkg.dev/proj/penguin/penguin-classifier:v6"
    result = fake_gcloud.make(
        "deploy-job", *VARIABLES, f"IMAGE={image}", "JOB=season-3", "JOB_TASKS=50",
        "JOB_PARALLELISM=20", "JOB_TASK_TIMEOUT=7200s", "JOB_MAX_RETRIES=5", "JOB_CPU=8",
        "JOB_MEMORY=8Gi", "JOB_SERVICE_ACCOUNT=classifier@proj.iam.gserviceaccount.com")
    assert result.returncode == 0, result.stderr
    assert fake_gcloud.calls() == [
        ["run", "jobs", "deploy", "season-3", *WHERE, f"--image={image}",
         "--command=python,-m,service.batch_command", "--tasks=50", "--parallelism=20",
         "--task-timeout=7200s", "--max-retries=5", "--cpu=8", "--memory=8Gi",
         "--execution-environment=gen2",
         "--service-account=classifier@proj.iam.gserviceaccount.com", "--quiet"],
    ]


def test_run_job_executes_the_shards_waits_then_merges(fake_gcloud) -> None:
    result = fake_gcloud.make("run-job", *VARIABLES, "INPUT=gs://traps/season-3",
                              "OUTPUT=gs://traps/results/season-3/")
    assert result.returncode == 0, result.stderr
    assert fake_gcloud.calls() == [
        ["run", "jobs", "execute", "penguin-classify", *WHERE,
         "--args=gs://traps/season-3,--recursive,--format,csv,--output,"
         "gs://traps/results/season-3/", "--wait", "--quiet"],
        ["run", "jobs", "execute", "penguin-classify", *WHERE,
         "--args=merge,gs://traps/results/season-3/,--output,"
         "gs://traps/results/season-3/results.csv", "--tasks=1", "--wait", "--quiet"],
    ]
    assert "results: gs://traps/results/season-3/results.csv" in result.stdout


def test_run_job_needs_input_and_output(fake_gcloud) -> None:
    result = fake_gcloud.make("run-job", *VARIABLES, "OUTPUT=gs://traps/results")
    assert result.returncode != 0
    assert "INPUT is empty: e.g. make run-job INPUT=gs://bucket/photos" in result.stderr
    assert fake_gcloud.calls() == []


def test_the_job_runs_a_module_the_image_holds() -> None:
    """The job's command is the batch command's module, copied into the image with service/."""
    from deploy_helpers import ROOT
    assert (ROOT / "service" / "batch_command.py").exists()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY service/ /app/service/" in dockerfile and "WORKDIR /app" in dockerfile
