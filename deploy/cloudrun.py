"""Build the image with Cloud Build and run it on Cloud Run, with blue-green releases, and the
batch command as a Cloud Run Job from the same image.

The Makefile's deploy targets call this (`make deploy`, `deploy-green`, `promote`, `deploy-job`,
`run-job`, ...; see deploy/README.md). Every gcloud command is printed before it runs, so a
release can be audited and any step repeated by hand. Standard library only: it needs python3
and gcloud, not the project's venv.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE_YAML = ROOT / "deploy" / "service.yaml"
SMOKE_TEST = ROOT / "deploy" / "smoke_test.py"
IMAGE_NAME = "penguin-classifier"
GREEN = "green"

# ---- The service's settings. deploy/service.yaml states the same ones declaratively; a test
# ---- fails when the two disagree. Why each value: deploy/README.md, "Settings".
PORT = 8080
CPU = "2"  # torch and the decoders use one thread per CPU the container gets
MEMORY = "1536Mi"  # 32% over the worst case `make memory` measured (deploy/README.md)
CONCURRENCY = 32  # requests in flight per instance; queue behind 2 CPUs, bounded latency
TIMEOUT_SECONDS = 60  # a photo upload on a slow phone link, plus a cold start
MIN_INSTANCES = 0  # scale to zero: pay nothing when idle, accept a cold start
MAX_INSTANCES = 4  # caps the bill and the load a traffic spike can cause
EXECUTION_ENVIRONMENT = "gen2"  # full Linux, faster CPU for torch
CPU_BOOST = True  # extra CPU while starting: importing torch and loading the model
CPU_THROTTLING = True  # CPU only during requests: no background work, request-based billing
# /readyz answers 200 once the model is loaded and warmed up: until then no traffic.
# Up to 2 s x 60 = 120 s to get there (Cloud Run allows at most 240 s).
STARTUP_PROBE = {"httpGet.path": "/readyz", "periodSeconds": 2, "timeoutSeconds": 1,
                 "failureThreshold": 60}
# /healthz answers while the process can serve; 3 misses 15 s apart restart the instance.
LIVENESS_PROBE = {"httpGet.path": "/healthz", "periodSeconds": 15, "timeoutSeconds": 3,
                  "failureThreshold": 3}

# ---- The batch job's settings (`make deploy-job`, `make run-job`; deploy/README.md, "Batch
# ---- jobs"). Each task classifies one shard of the listing; Cloud Run retries a failed task.
JOB_NAME = "penguin-classify"
JOB_TASKS = 10  # shards: each task takes 1/JOB_TASKS of the listing
JOB_PARALLELISM = 10  # tasks running at once (bounded by the region's CPU quota)
JOB_TASK_TIMEOUT = "3600s"  # one shard, from start to its result file
JOB_MAX_RETRIES = 3  # a retried task resumes from its checkpoints
JOB_CPU = "4"  # torch and the decoders use one thread per CPU; no requests to share them with
JOB_MEMORY = "4Gi"  # model, a window of photos' bytes in flight, decoded batches
# The image's CMD serves HTTP; a job runs the batch command from the same image instead.
JOB_COMMAND = "python,-m,service.batch_command"


class DeployError(Exception):
    """A release step cannot go on; the message says why and what to do."""


class Gcloud:
    """Runs gcloud for one project and region, echoing each command first."""

    def __init__(self, project: str, region: str) -> None:
        self.location = [f"--project={project}", f"--region={region}"]

    def run(self, *args: str) -> None:
        self._echo(args)
        subprocess.run(["gcloud", *args], check=True)

    def json(self, *args: str) -> object:
        """Run a read-only command with --format=json and parse its output."""
        args = (*args, "--format=json")
        self._echo(args)
        output = subprocess.run(["gcloud", *args], check=True, capture_output=True, text=True)
        return json.loads(output.stdout)

    @staticmethod
    def _echo(args: tuple[str, ...]) -> None:
        print("+ " + shlex.join(["gcloud", *args]), flush=True)


def image_url(project: str, region: str, repository: str, tag: str) -> str:
    return f"{region}-docker.pkg.dev/{project}/{repository}/{IMAGE_NAME}:{tag}"


def probe_flag(probe: dict) -> str:
    return ",".join(f"{key}={value}" for key, value in probe.items())


def deploy_flags(image: str, min_instances: int, max_instances: int) -> list[str]:
    """`gcloud run deploy` flags that set every setting above, so none is left to a default."""
    return [
        f"--image={image}",
        f"--port={PORT}",
        f"--cpu={CPU}",
        f"--memory={MEMORY}",
        f"--concurrency={CONCURRENCY}",
        f"--timeout={TIMEOUT_SECONDS}",
        f"--min-instances={min_instances}",
        f"--max-instances={max_instances}",
        f"--execution-environment={EXECUTION_ENVIRONMENT}",
        "--cpu-boost" if CPU_BOOST else "--no-cpu-boost",
        "--cpu-throttling" if CPU_THROTTLING else "--no-cpu-throttling",
        f"--startup-probe={probe_flag(STARTUP_PROBE)}",
        f"--liveness-probe={probe_flag(LIVENESS_PROBE)}",
        # A public demo: anyone may call it; max instances bound what that can cost.
        "--allow-unauthenticated",
    ]


def render_service_yaml(image: str, service: str, template: str) -> str:
    """deploy/service.yaml with the image just built and the service's name filled in."""
    placeholder = "image: IMAGE_URL"
    if template.count(placeholder) != 1:
        raise DeployError(f"{SERVICE_YAML} must contain `{placeholder}` exactly once")
    text = template.replace(placeholder, f"image: {image}")
    # The Service's own name is the only `name:` indented by exactly two spaces.
    text, count = re.subn(r"(?m)^  name: .*$", f"  name: {service}", text, count=1)
    if count != 1:
        raise DeployError(f"{SERVICE_YAML} has no metadata.name line to fill in")
    return text


def tagged_url(service_json: dict, tag: str | None) -> str:
    """The URL that reaches the revision carrying `tag`, or the service's main URL."""
    status = service_json.get("status", {})
    if tag is None:
        return status["url"]
    for target in status.get("traffic", []):
        if target.get("tag") == tag and target.get("url"):
            return target["url"]
    raise DeployError(f"no revision is tagged {tag!r}; deploy one with `make deploy-green`")


def _created(revision: dict) -> dt.datetime:
    # RFC 3339, e.g. 2026-05-04T10:11:12.345678Z (Python 3.11 reads the Z itself)
    return dt.datetime.fromisoformat(revision["metadata"]["creationTimestamp"])


def _ready(revision: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in revision.get("status", {}).get("conditions", []))


def previous_revision(service_json: dict, revisions: list[dict]) -> str:
    """The revision that served before the latest release.

    During a canary (two revisions share the traffic) that is the older revision with the most
    traffic. Otherwise it is the newest ready revision created before the one serving now; a
    revision that was deployed with deploy-green but never promoted counts too, so `make rollback
    REVISION=...` exists to choose another.
    """
    serving: dict[str, int] = {}
    for target in service_json.get("status", {}).get("traffic", []):
        if target.get("percent") and target.get("revisionName"):
            name = target["revisionName"]
            serving[name] = serving.get(name, 0) + target["percent"]
    if not serving:
        raise DeployError("no revision serves traffic; nothing to roll back from")
    by_name = {revision["metadata"]["name"]: revision for revision in revisions}
    unknown = sorted(set(serving) - set(by_name))
    if unknown:
        raise DeployError(f"revisions {unknown} serve traffic but are not in the revision list")
    newest_serving = max(serving, key=lambda name: _created(by_name[name]))
    if len(serving) > 1:
        older = {name: percent for name, percent in serving.items() if name != newest_serving}
        return max(older, key=lambda name: (older[name], _created(by_name[name])))
    cutoff = _created(by_name[newest_serving])
    candidates = [r for r in revisions if _ready(r) and _created(r) < cutoff]
    if not candidates:
        raise DeployError(f"no ready revision is older than {newest_serving}: nothing to "
                          "roll back to")
    return max(candidates, key=_created)["metadata"]["name"]


def job_flags(image: str, args: argparse.Namespace) -> list[str]:
    """`gcloud run jobs deploy` flags that set every job setting, so none is left to a
    default."""
    flags = [
        f"--image={image}",
        f"--command={JOB_COMMAND}",
        f"--tasks={args.tasks}",
        f"--parallelism={args.parallelism}",
        f"--task-timeout={args.task_timeout}",
        f"--max-retries={args.max_retries}",
        f"--cpu={args.job_cpu}",
        f"--memory={args.job_memory}",
        f"--execution-environment={EXECUTION_ENVIRONMENT}",
    ]
    if args.service_account:
        flags.append(f"--service-account={args.service_account}")
    return flags


def batch_arguments(input_location: str, output_location: str, fmt: str) -> list[str]:
    """The batch command's arguments for one execution: every task shards the same listing
    (Cloud Run tells each its index and the count)."""
    for name, location in (("INPUT", input_location), ("OUTPUT", output_location)):
        if not location:
            raise DeployError(f"{name} is empty: e.g. make run-job INPUT=gs://bucket/photos "
                              "OUTPUT=gs://bucket/results")
        if "," in location:
            raise DeployError(f"{name} contains a comma, which gcloud's --args cannot pass")
    return [input_location, "--recursive", "--format", fmt, "--output", output_location]


def merge_arguments(output_location: str, fmt: str) -> list[str]:
    """The merge the last step of run-job executes: one task, the shards into one file."""
    merged = f"{output_location.rstrip('/')}/results.{fmt}"
    return ["merge", output_location, "--output", merged]


class Release:
    """The release steps, each a short sequence of gcloud commands."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.gcloud = Gcloud(args.project, args.region)
        self.service = args.service

    def image(self) -> str:
        """The image to deploy: --image as given, else built now by Cloud Build."""
        if self.args.image:
            return self.args.image
        image = image_url(self.args.project, self.args.region, self.args.repository,
                          self.args.image_tag)
        # Cloud Build builds the Dockerfile remotely (on amd64, as Cloud Run needs) and pushes the
        # image to Artifact Registry; .gcloudignore limits the upload to what the image needs.
        self.gcloud.run("builds", "submit", f"--project={self.args.project}", f"--tag={image}",
                        "--quiet", str(ROOT))
        return image

    def deploy(self) -> None:
        flags = deploy_flags(self.image(), self.args.min_instances, self.args.max_instances)
        self.gcloud.run("run", "deploy", self.service, *self.gcloud.location, *flags, "--quiet")
        # After a deploy-green (--no-traffic), new revisions no longer get traffic by themselves;
        # a plain deploy means "serve this now", so all traffic goes to the latest revision.
        self.gcloud.run("run", "services", "update-traffic", self.service, *self.gcloud.location,
                        "--to-latest", "--quiet")

    def deploy_yaml(self) -> None:
        rendered = render_service_yaml(self.image(), self.service, SERVICE_YAML.read_text())
        with tempfile.TemporaryDirectory() as folder:
            spec = Path(folder) / "service.yaml"
            spec.write_text(rendered)
            self.gcloud.run("run", "services", "replace", str(spec), *self.gcloud.location,
                            "--quiet")
        # IAM is not part of the Knative spec: make it public as `deploy` does.
        self.gcloud.run("run", "services", "add-iam-policy-binding", self.service,
                        *self.gcloud.location, "--member=allUsers", "--role=roles/run.invoker",
                        "--quiet")

    def green(self) -> None:
        """A new revision that gets no traffic, reachable at its own URL, then smoke tested."""
        flags = deploy_flags(self.image(), self.args.min_instances, self.args.max_instances)
        self.gcloud.run("run", "deploy", self.service, *self.gcloud.location, *flags,
                        "--no-traffic", f"--tag={GREEN}", "--quiet")
        self.smoke(GREEN)

    def smoke(self, tag: str | None) -> None:
        described = self.gcloud.json("run", "services", "describe", self.service,
                                     *self.gcloud.location)
        command = [sys.executable, str(SMOKE_TEST), tagged_url(described, tag)]
        if self.args.photo:
            command += ["--photo", str(self.args.photo)]
        print("+ " + shlex.join(command), flush=True)
        if subprocess.run(command).returncode != 0:
            raise DeployError(f"the revision tagged {tag!r} failed its smoke test; it gets no "
                              "traffic (fix, then `make deploy-green` again)")

    def shift(self, percent: int) -> None:
        """Send `percent` of the traffic to the green revision; the rest keeps its split."""
        self.gcloud.run("run", "services", "update-traffic", self.service, *self.gcloud.location,
                        f"--to-tags={GREEN}={percent}", "--quiet")

    def deploy_job(self) -> None:
        """Create the batch job, or update it to this image and these settings."""
        self.gcloud.run("run", "jobs", "deploy", self.args.job, *self.gcloud.location,
                        *job_flags(self.image(), self.args), "--quiet")

    def run_job(self) -> None:
        """One execution over INPUT (a task per shard, waited for), then the merge of its
        shards, as a one-task execution of the same job."""
        shard_args = batch_arguments(self.args.input, self.args.output, self.args.format)
        self.gcloud.run("run", "jobs", "execute", self.args.job, *self.gcloud.location,
                        f"--args={','.join(shard_args)}", "--wait", "--quiet")
        merge_args = merge_arguments(self.args.output, self.args.format)
        self.gcloud.run("run", "jobs", "execute", self.args.job, *self.gcloud.location,
                        f"--args={','.join(merge_args)}", "--tasks=1", "--wait", "--quiet")
        print(f"results: {merge_args[-1]}", flush=True)

    def rollback(self) -> None:
        target = self.args.revision
        if not target:
            described = self.gcloud.json("run", "services", "describe", self.service,
                                         *self.gcloud.location)
            revisions = self.gcloud.json("run", "revisions", "list", f"--service={self.service}",
                                         *self.gcloud.location)
            target = previous_revision(described, revisions)
            print(f"rolling back to {target}", flush=True)
        self.gcloud.run("run", "services", "update-traffic", self.service, *self.gcloud.location,
                        f"--to-revisions={target}=100", "--quiet")


def percent(text: str) -> int:
    value = int(text)
    if not 0 < value < 100:
        raise argparse.ArgumentTypeError("a canary gets 1 to 99 percent; 100 is `make promote`")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True, help="Google Cloud project ID")
    parser.add_argument("--region", required=True, help="e.g. europe-west1")
    parser.add_argument("--service", default=IMAGE_NAME, help="Cloud Run service name")
    parser.add_argument("--repository", default="penguin", help="Artifact Registry repository")
    parser.add_argument("--image-tag", default="latest", help="tag of the image to build")
    parser.add_argument("--image", help="deploy this image instead of building one")
    parser.add_argument("--min-instances", type=int, default=MIN_INSTANCES)
    parser.add_argument("--max-instances", type=int, default=MAX_INSTANCES)
    parser.add_argument("--photo", type=Path, help="photo for the smoke test (default: a sample)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build and push the image with Cloud Build")
    commands.add_parser("deploy", help="build, deploy and send all traffic to it")
    commands.add_parser("deploy-yaml", help="build, then apply deploy/service.yaml")
    commands.add_parser("green", help="build, deploy with no traffic under tag green, smoke test")
    smoke = commands.add_parser("smoke", help="smoke test the green revision (or --main)")
    smoke.add_argument("--main", action="store_true", help="test the service's main URL")
    commands.add_parser("promote", help="send all traffic to the green revision")
    canary = commands.add_parser("canary", help="send PERCENT of the traffic to green")
    canary.add_argument("percent", type=percent)
    rollback = commands.add_parser("rollback", help="send all traffic to the previous revision")
    rollback.add_argument("--revision", help="this revision instead of the previous one")
    job = commands.add_parser("deploy-job", help="build, create or update the batch job")
    job.add_argument("--job", default=JOB_NAME, help="Cloud Run Job name")
    job.add_argument("--tasks", type=int, default=JOB_TASKS)
    job.add_argument("--parallelism", type=int, default=JOB_PARALLELISM)
    job.add_argument("--task-timeout", default=JOB_TASK_TIMEOUT)
    job.add_argument("--max-retries", type=int, default=JOB_MAX_RETRIES)
    job.add_argument("--job-cpu", default=JOB_CPU)
    job.add_argument("--job-memory", default=JOB_MEMORY)
    job.add_argument("--service-account", default=None,
                     help="the identity the tasks run as (needs the bucket roles in README)")
    execution = commands.add_parser("run-job", help="classify INPUT into OUTPUT, then merge")
    execution.add_argument("--job", default=JOB_NAME, help="Cloud Run Job name")
    execution.add_argument("--input", default="", help="gs://bucket/prefix of the photos")
    execution.add_argument("--output", default="", help="gs://bucket/prefix for the results")
    execution.add_argument("--format", choices=("csv", "json"), default="csv")
    args = parser.parse_args(argv)
    for name in ("project", "region"):
        if not getattr(args, name):
            parser.error(f"{name.upper()} is empty: e.g. make {args.command} "
                         "PROJECT=my-project REGION=europe-west1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    release = Release(args)
    try:
        match args.command:
            case "build":
                print(release.image())
            case "deploy":
                release.deploy()
            case "deploy-yaml":
                release.deploy_yaml()
            case "green":
                release.green()
            case "smoke":
                release.smoke(None if args.main else GREEN)
            case "promote":
                release.shift(100)
            case "canary":
                release.shift(args.percent)
            case "rollback":
                release.rollback()
            case "deploy-job":
                release.deploy_job()
            case "run-job":
                release.run_job()
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        print(f"error: {shlex.join(map(str, error.cmd))} exited with {error.returncode}",
              file=sys.stderr)
        return error.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
