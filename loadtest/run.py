"""Run one scenario headless and keep everything about it in a timestamped results folder.

    python -m loadtest.run --scenario normal --host http://localhost:8080 [--wait none]

What `make loadtest` runs. A figure without its conditions is not worth publishing, so besides
Locust's CSV and HTML reports the folder gets `run.json`: the scenario, the wait, the host, the
model version the service reported (GET /model), the machine, the load average before and after
(other work on the machine skews the figures) and the git commit. Then the summary and plot.
Any arguments after `--` go to Locust unchanged. The exit status is Locust's: non-zero when any
request failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from loadtest.photos import load_pool
from loadtest.scenarios import SCENARIO_ENV, SCENARIOS, scenario_named
from loadtest.summary import summarise_run
from loadtest.waits import WAIT_ENV, describe_wait

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO_ROOT / "loadtest" / "locustfile.py"
# What the users send: photos (the default), or measurements to /predict/measurements.
LOCUSTFILES = {"photos": LOCUSTFILE,
               "measurements": REPO_ROOT / "loadtest" / "measurements_locustfile.py"}
DEFAULT_RESULTS = REPO_ROOT / "loadtest" / "results"
CSV_PREFIX = "locust"


def run_folder(results: Path, scenario: str, now: dt.datetime | None = None) -> Path:
    """results/20250131-142501-normal: sorts by time, names the scenario."""
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    folder = results / f"{stamp}-{scenario}"
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def model_info(host: str) -> dict[str, Any]:
    """What GET /model says, so the results name the model that answered; {} if unreachable."""
    try:
        with urllib.request.urlopen(f"{host.rstrip('/')}/model", timeout=10) as answer:
            info = json.load(answer)
    except (urllib.error.URLError, OSError, ValueError) as error:
        return {"error": str(error)}
    described = {key: info.get(key) for key in ("version", "architecture", "input_size",
                                                 "sha256", "created_at")}
    measurements = info.get("measurements") or {}
    described["measurements_version"] = measurements.get("version")
    return described


def machine() -> dict[str, Any]:
    """The load generator's machine; for a local service, also the server's."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kib = int(meminfo.read_text().split("MemTotal:", 1)[1].split()[0])
        memory_gib = round(total_kib / 1024 / 1024, 1)
    return {"cpu": cpu, "cpus": len(os.sched_getaffinity(0)), "memory_gib": memory_gib,
            "os": platform.platform(), "python": platform.python_version()}


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def uncommitted_service_files() -> list[str]:
    """A local service runs the working tree: name what differs from the commit."""
    changed = git("diff", "--name-only", "HEAD", "--", "service")
    untracked = git("ls-files", "--others", "--exclude-standard", "--", "service")
    if "unknown" in (changed, untracked):
        return []
    return sorted(set(changed.splitlines()) | set(untracked.splitlines()))


def locust_command(host: str, folder: Path, extra: list[str],
                   locustfile: Path = LOCUSTFILE) -> list[str]:
    """--csv-full-history matters: without it the history's percentiles are cumulative since
    the start, not over the last ~10 s, and the plot and the ceiling steps would be wrong."""
    prefix = str(folder / CSV_PREFIX)
    return [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
            "--host", host, "--csv", prefix, "--csv-full-history",
            "--html", str(folder / "report.html"),
            "--logfile", str(folder / "locust.log"), "--only-summary", *extra]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--host", required=True, help="base URL, e.g. http://localhost:8080")
    parser.add_argument("--wait", default=os.environ.get(WAIT_ENV, ""),
                        help="'1-5' (default, as in the study), 'none', or seconds")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--target", choices=sorted(LOCUSTFILES), default="photos",
                        help="photos (default) or measurements (POST /predict/measurements)")
    args = parser.parse_args(own)
    if not args.host.startswith(("http://", "https://")):
        parser.error(f"--host must be a URL starting with http:// or https://, got {args.host!r}")

    scenario = scenario_named(args.scenario)
    wait = describe_wait(args.wait, no_wait_default=scenario.no_wait)
    if args.target == "photos":
        load_pool()  # render the photo pool now, if not cached, rather than inside the timed run
    name = scenario.name if args.target == "photos" else f"{args.target}-{scenario.name}"
    folder = run_folder(args.results, name)
    info: dict[str, Any] = {
        "scenario": scenario.name, "target": args.target, "description": scenario.description,
        "planned_seconds": scenario.duration, "wait": wait, "host": args.host,
        "model": model_info(args.host), "machine": machine(),
        "commit": git("describe", "--always", "--dirty"),
        "uncommitted_service_files": uncommitted_service_files(),
        "started_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_before": load_average(), "locust_args": extra,
    }
    (folder / "run.json").write_text(json.dumps(info, indent=2))
    print(f"{scenario.name}: {scenario.description}; wait {wait}; about {scenario.duration:.0f} s"
          f" -> {folder}", flush=True)

    env = {**os.environ, SCENARIO_ENV: scenario.name, WAIT_ENV: args.wait}
    finished = subprocess.run(locust_command(args.host, folder, extra, LOCUSTFILES[args.target]),
                              cwd=REPO_ROOT, env=env)

    info.update(finished_at=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                load_after=load_average(), locust_exit_code=finished.returncode)
    (folder / "run.json").write_text(json.dumps(info, indent=2))
    print(summarise_run(folder))
    return finished.returncode


if __name__ == "__main__":
    raise SystemExit(main())
