"""The benchmark's verdicts (PASS/FAIL per target) and its markdown report."""

from __future__ import annotations

from typing import Any

# The targets, as ratios measured within one run.
SPEEDUP_OVER_NAIVE = 3.0
SHARE_OF_CEILING = 0.5
# A bigger, better model may cost speed, but not more than half the previous one's throughput.
SHARE_OF_PREVIOUS = 0.5
P99_OVER_P50 = 3.0
LONE_REQUEST_SLACK_MS = 3.0
# Issue 19 ("Speed 2"), per backend: the event loop, the cost of a request against its parts,
# start-up and memory.
LOOP_MS_PER_UPLOAD = 1.5
CPU_OVER_PARTS = 1.3
SHARE_OF_OWN_CEILING = 0.6
P99_OVER_P50_STRICT = 2.5
LONE_REQUEST_SLACK_STRICT_MS = 2.0
READY_S = 1.5
READY_RSS_MIB = 400
PEAK_RSS_MIB = 1024
# Each backend as `make bench` serves it: (name in the report, the service's result key, its
# runtime's key in the lone-request and footprint figures); its variant in the model-alone
# table is `model_alone_variant`'s.
BACKENDS = (("TorchScript", "service", "torchscript"),
            ("ONNX Runtime", "service_onnx", "onnxruntime"))
TORCHSCRIPT_VARIANTS = {"float32": "torchscript channels-last",
                        "bfloat16": "torchscript channels-last bfloat16"}
MARKER_BEGIN = "<!-- bench:begin (written by `make bench`; edit outside the markers) -->"
MARKER_END = "<!-- bench:end -->"


def ceiling_of(parts: list[dict[str, Any]]) -> tuple[float, str, int]:
    """The best images/s of the TorchScript model in any layout/variant, batch size and run."""
    best = (0.0, "", 0)
    for run in parts:
        for variant, by_size in run["images_per_second"].items():
            if not variant.startswith("torchscript"):
                continue
            for size, rate in by_size.items():
                if rate > best[0]:
                    best = (rate, variant, int(size))
    return best


def served_variant(parts: list[dict[str, Any]]) -> str:
    """The model-alone variant the service's TorchScript passes are: channels-last, in the
    precision the service resolved (float32 in runs from before INFERENCE_PRECISION)."""
    return TORCHSCRIPT_VARIANTS[parts[0].get("precision", "float32")]


def model_alone_variant(runtime: str, parts: list[dict[str, Any]]) -> str:
    """The model-alone variant a backend's service passes are: TorchScript's as served,
    ONNX Runtime's its only one."""
    return served_variant(parts) if runtime == "torchscript" else runtime


def served_batch1_ms(parts: list[dict[str, Any]]) -> float:
    """The batch-1 forward pass as the service runs it, best run."""
    variant = served_variant(parts)
    return min(run["batch1_ms"][variant] for run in parts)


def verdicts(result: dict[str, Any]) -> list[dict[str, Any]]:
    phases = {phase["concurrency"]: phase for phase in result["service"]["phases"]}
    naive_best = max((phase["rps"], name, phase["concurrency"])
                     for name, runs in result["naive"]["modes"].items() for phase in runs)
    ceiling, variant, size = ceiling_of(result["parts"])
    at32 = phases.get(32)
    at1 = phases.get(1)
    decode_ms = min(run["decode_ms_median"] for run in result["parts"] if "decode_ms_median" in run)
    batch1_ms = served_batch1_ms(result["parts"])
    out = []

    def add(name: str, passed: bool | None, measured: str, target: str) -> None:
        out.append({"target": name, "passed": passed, "measured": measured, "required": target})

    if at32:
        ratio = at32["rps"] / naive_best[0] if naive_best[0] else float("inf")
        add("throughput at C=32 vs naive reference", ratio >= SPEEDUP_OVER_NAIVE,
            f"{at32['rps']} vs {naive_best[0]} req/s ({naive_best[1]}, C={naive_best[2]}): "
            f"x{ratio:.2f}", f">= x{SPEEDUP_OVER_NAIVE:g}")
        share = at32["rps"] / ceiling if ceiling else 0.0
        add("throughput at C=32 vs model ceiling", share >= SHARE_OF_CEILING,
            f"{at32['rps']} vs {ceiling} img/s ({variant}, batch {size}): {share:.0%}",
            f">= {SHARE_OF_CEILING:.0%}")
        spread = at32["p99_ms"] / at32["p50_ms"] if at32["p50_ms"] else float("inf")
        add("p99 / p50 at C=32", spread <= P99_OVER_P50,
            f"{at32['p99_ms']} / {at32['p50_ms']} ms = {spread:.2f}", f"<= {P99_OVER_P50:g}")
    if at1:
        budget = decode_ms + batch1_ms + LONE_REQUEST_SLACK_MS
        add("p50 at C=1 vs one decode + one batch-1 pass + 3 ms", at1["p50_ms"] <= budget,
            f"{at1['p50_ms']} ms vs {decode_ms} + {batch1_ms} + 3 = {budget:.1f} ms",
            "<=")
    errors = {c: p["errors"] for c, p in phases.items() if c <= 64}
    add("zero errors up to C=64", all(count == 0 for count in errors.values()),
        ", ".join(f"C={c}: {n}" for c, n in sorted(errors.items())), "0 everywhere")
    overload = result["service"].get("overload")
    if overload:
        # "Fast" on a machine whose speed varies: a refusal comes back sooner than an accepted
        # request of the same phase completes (rather than waiting, or timing out).
        other = {code: n for code, n in overload["errors_by_code"].items()
                 if code not in ("503 overloaded", "503 queue_timeout")}
        deadline_ms = result["service"]["settings"]["request_timeout_s"] * 1000
        accepted_p50 = overload["p50_ms"] or deadline_ms  # none accepted: at least beat that
        fast = (overload["rejected_p99_ms"] or float("inf")) <= accepted_p50
        all_retry_after = overload["rejected_503"] == overload["rejected_503_with_retry_after"]
        add(f"beyond the bound (C={overload['concurrency']}): fast 503 + Retry-After",
            overload["rejected_503"] > 0 and not other and fast and all_retry_after,
            f"{overload['rejected_503']} x 503 (p50 {overload['rejected_p50_ms']} ms, p99 "
            f"{overload['rejected_p99_ms']} ms, Retry-After on "
            f"{overload['rejected_503_with_retry_after']}); accepted: {overload['rps']} req/s, "
            f"p50 {overload['p50_ms']} ms; other failures: {other or 'none'}",
            "only 503s with Retry-After; 503 p99 <= accepted p50")
    previous = result.get("service_previous")
    previous_at32 = next((phase for phase in previous["phases"] if phase["concurrency"] == 32),
                         None) if previous else None
    if at32 and previous_at32:
        share = at32["rps"] / previous_at32["rps"] if previous_at32["rps"] else float("inf")
        add(f"throughput at C=32 vs the previous model ({previous['model']['version']})",
            share >= SHARE_OF_PREVIOUS,
            f"{at32['rps']} vs {previous_at32['rps']} req/s: {share:.0%}",
            f">= {SHARE_OF_PREVIOUS:.0%}")
    parity = result["service"].get("parity")
    if parity is not None:
        add("same answers alone (C=1) and batched (C=32)", parity["mismatches"] == 0,
            f"{parity['compared']} photos compared, {parity['mismatches']} differ",
            "identical JSON probabilities")
    measured = result["service"].get("measurements")
    if measured:
        add("/predict/measurements: no errors, the right species",
            all(phase["errors"] == 0 and phase["wrong_answers"] == 0 for phase in measured),
            ", ".join(f"C={phase['concurrency']}: {phase['errors']} errors, "
                      f"{phase['wrong_answers']} of {phase['answers_checked']} answers wrong"
                      for phase in measured), "0 and 0")
    return out


def speed_verdicts(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 19's targets for each backend the run served, every figure from this run."""
    out = []
    for name, key, runtime in BACKENDS:
        variant = model_alone_variant(runtime, result["parts"])
        service = result.get(key)
        if service and all(variant in run["images_per_second"] for run in result["parts"]):
            out += [{**verdict, "backend": name}
                    for verdict in _backend_verdicts(result, service, variant, runtime)]
    return out


def _backend_verdicts(result: dict[str, Any], service: dict[str, Any], variant: str,
                      runtime: str) -> list[dict[str, Any]]:
    phases = {phase["concurrency"]: phase for phase in service["phases"]}
    parts = result["parts"]
    rates = {int(size): max(run["images_per_second"][variant][size] for run in parts)
             for size in parts[0]["images_per_second"][variant]}
    decode_ms = min(run["decode_ms_median"] for run in parts)
    batch1_ms = min(run["batch1_ms"][variant] for run in parts)
    out = []

    def add(name: str, passed: bool, measured: str, target: str) -> None:
        out.append({"target": name, "passed": passed, "measured": measured, "required": target})

    at32, at1 = phases.get(32), phases.get(1)
    if at32:
        loop_ms = at32["event_loop_cpu_ms_per_request"]
        add("event loop CPU per upload at C=32", loop_ms <= LOOP_MS_PER_UPLOAD,
            f"{loop_ms} ms", f"<= {LOOP_MS_PER_UPLOAD} ms")
        batch = _nearest_size(rates, at32.get("mean_batch_size") or 1)
        forward_ms = round(1000 / rates[batch], 2)
        parts_ms = decode_ms + forward_ms
        cpu_ms = at32["server_cpu_ms_per_request"]
        add("server CPU per request at C=32 vs one decode + the forward pass per image",
            cpu_ms <= CPU_OVER_PARTS * parts_ms,
            f"{cpu_ms} ms vs {decode_ms} + {forward_ms} (batch {batch}) = {parts_ms:.2f} ms: "
            f"x{cpu_ms / parts_ms:.2f}; the rest, {cpu_ms - parts_ms:.2f} ms, is the event loop "
            f"and glue", f"<= x{CPU_OVER_PARTS}")
        ceiling = max(rates.values())
        add("throughput at C=32 vs the backend's own ceiling",
            at32["rps"] >= SHARE_OF_OWN_CEILING * ceiling,
            f"{at32['rps']} vs {ceiling} img/s: {at32['rps'] / ceiling:.0%}",
            f">= {SHARE_OF_OWN_CEILING:.0%}")
        spread = at32["p99_ms"] / at32["p50_ms"]
        add("p99 / p50 at C=32", spread <= P99_OVER_P50_STRICT,
            f"{at32['p99_ms']} / {at32['p50_ms']} ms = {spread:.2f}", f"<= {P99_OVER_P50_STRICT}")
    if at1:
        budget = decode_ms + batch1_ms + LONE_REQUEST_SLACK_STRICT_MS
        served_pass = (f"; the service's own passes took {at1['mean_pass_ms']} ms"
                       if at1.get("mean_pass_ms") else "")
        add("p50 at C=1 vs one decode + one batch-1 pass + 2 ms", at1["p50_ms"] <= budget,
            f"{at1['p50_ms']} ms vs {decode_ms} + {batch1_ms} + 2 = {budget:.1f} ms"
            + served_pass + _lone_request_reason(parts, runtime, at1), "<=")
    cold, memory = service.get("cold_start") or {}, service["memory"]
    alone = (result.get("onnx") or {}).get("footprint", {}).get(runtime)
    if cold:
        add("process start to ready (self-test included)", cold["ready_s_median"] <= READY_S,
            f"{cold['ready_s_median']} s (median of {len(cold['ready_s'])})"
            + (f"; importing the runtime alone takes {alone['import_s']} s" if alone else ""),
            f"<= {READY_S} s")
    add("RSS when ready", memory["ready_mb"] <= READY_RSS_MIB, f"{memory['ready_mb']} MiB"
        + (f"; the runtime alone, just imported, is {alone['import_rss_mb']} MiB resident"
           if alone and "import_rss_mb" in alone else ""), f"<= {READY_RSS_MIB} MiB")
    highest = max(phases)
    add(f"peak RSS (VmHWM) over the run, up to C={highest}"
        + (" and the overload phase" if "overload" in service else ""),
        memory["peak_mb"] <= PEAK_RSS_MIB, f"{memory['peak_mb']} MiB", f"<= {PEAK_RSS_MIB} MiB")
    return out


def _lone_request_reason(parts: list[dict[str, Any]], runtime: str, at1: dict[str, Any]
                         ) -> str:
    """Where a lone request's time goes: its two parts run in turn without HTTP (the best of
    the parts' runs), and the rest, which HTTP, the event loop and the load generator share."""
    runs = [run["lone_request"][runtime] for run in parts
            if runtime in run.get("lone_request", {})]
    if not runs:
        return ""
    best = min(runs, key=lambda run: run["serial_ms"])
    rest = at1["p50_ms"] - best["serial_ms"]
    return (f"; decoded then answered in turn without HTTP (two threads, as at C=1): "
            f"{best['decode_ms']} + {best['pass_ms']} = {best['serial_ms']} ms, so HTTP, the "
            f"event loop ({at1['event_loop_cpu_ms_per_request']} ms of its CPU per request) "
            f"and the load generator took the other {rest:.1f} ms")


def _nearest_size(rates: dict[int, float], mean_batch: float) -> int:
    """The measured batch size closest to the mean batch the service reached."""
    return min(rates, key=lambda size: abs(size - mean_batch))


def _service_section(title: str, service: dict[str, Any]) -> list[str]:
    """A closed-loop table of one more service configuration, and its start and memory."""
    lines = ["", f"### {title}, closed loop", "",
             _row("C", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors", "server CPU ms/req",
                  "mean batch", "mean pass ms"),
             _row("---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:")]
    for phase in service["phases"]:
        lines.append(_row(phase["concurrency"], phase["rps"], phase["p50_ms"], phase["p90_ms"],
                          phase["p99_ms"], _errors(phase), phase["server_cpu_ms_per_request"],
                          phase.get("mean_batch_size"), phase.get("mean_pass_ms")))
    cold = service["cold_start"]
    lines += ["", f"Cold start to ready {cold['ready_s_median']} s, RSS when ready "
              f"{service['memory']['ready_mb']} MB, peak {service['memory']['peak_mb']} MB.", ""]
    return lines


def _measurements_section(phases: list[dict[str, Any]] | None) -> list[str]:
    """The measurements endpoint on the same service process, in the same closed loop."""
    if not phases:
        return []
    lines = ["", "### `POST /predict/measurements` (one JSON record per request), closed loop",
             "", "The same service process, after the photo phases: 24 records of 12 real "
             "Palmer Penguins birds (loadtest/measurements.py), each with every feature and with "
             "the bill and flipper only; every distinct answer checked for its species.", "",
             _row("C", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors", "wrong species",
                  "server CPU ms/req", "of which event loop"),
             _row("---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:")]
    for phase in phases:
        lines.append(_row(phase["concurrency"], phase["rps"], phase["p50_ms"], phase["p90_ms"],
                          phase["p99_ms"], _errors(phase),
                          f"{phase['wrong_answers']} of {phase['answers_checked']}",
                          phase["server_cpu_ms_per_request"],
                          phase["event_loop_cpu_ms_per_request"]))
    return lines


def _batch_command_section(result: dict[str, Any]) -> list[str]:
    """The batch command's images/s (one task), beside the model's ceiling and the service."""
    batch = result.get("batch_command")
    if not batch:
        return []
    ceiling, variant, size = ceiling_of(result["parts"])
    at32 = next((phase for phase in result["service"]["phases"] if phase["concurrency"] == 32),
                None)

    def share(rate: float) -> str:
        return f"{rate / ceiling:.0%}" if ceiling else ""

    lines = ["", "### The batch command (`penguin-classify`, one task) beside the service's "
             "ceiling", "",
             _row("", "images/s", "share of the ceiling", "how"),
             _row("---", "---:", "---:", "---"),
             _row("the model alone (the ceiling)", ceiling, share(ceiling),
                  f"{variant}, batch {size}, preprocessed tensors")]
    if at32:
        lines.append(_row("the service at C=32", at32["rps"], share(at32["rps"]),
                          "HTTP uploads, one photo each, end to end"))
    for run in batch["runs"]:
        lines.append(_row(f"`penguin-classify --batch-size {run['batch_size']}`",
                          run["images_per_second"], share(run["images_per_second"]),
                          f"{run['classified']} photos from a local folder in {run['seconds']} s "
                          f"(its own figure: reading, decoding, forward passes); the process "
                          f"took {run['wall_s']} s with start-up and model load"
                          + (f"; {run['skipped']} skipped" if run["skipped"] else "")))
    lines += ["", f"The folder holds {batch['runs'][0]['photos']} copies (hard links) of the "
              "benchmark's photos; the command runs with the service's thread settings. Its "
              "first batch size is its default, the service's MAX_BATCH_SIZE (what `make run-job` "
              "runs)"
              + (", the other a large batch for comparison." if len(batch["runs"]) > 1 else ".")]
    return lines


def _normalise_costs(result: dict) -> str:
    """'torchscript batch 1: 0.2 ms, ...; onnxruntime ...': the best of the parts' runs."""
    parts = result["parts"]
    return "; ".join(
        f"{backend} " + ", ".join(
            f"batch {size}: {min(r['normalise_ms'][backend][size] for r in parts)} ms"
            for size in sizes)
        for backend, sizes in parts[0]["normalise_ms"].items())


def _row(*cells: object) -> str:
    return "| " + " | ".join("" if cell is None else str(cell) for cell in cells) + " |"


def markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]
    service = result["service"]
    lines = [
        f"Run {result['started']} ({'quick smoke' if result['quick'] else 'full'}), "
        f"`{result['command']}`, {result['seconds']:.0f} s.",
        "",
        f"Machine: {machine['cpu_model']}, {machine['logical_cpus']} logical CPUs "
        f"({machine['usable_cpus']} usable by the process), {machine['memory_gb']} GB; "
        f"load average {machine['load_before']} before, {machine['load_after']} after "
        "(other work shared the CPUs: compare ratios within a run, not absolute numbers). "
        f"Python {machine['python']}, torch {machine['torch']}.",
        "",
        f"Model: {result['model']['architecture']} {result['model']['version']} "
        f"({result['model']['source']}), input {result['model']['input_size']} px, "
        f"{result['model']['megabytes']} MB. Uploads: {result['photos']['count']} JPEGs, "
        f"{result['photos']['long_side_min']} to {result['photos']['long_side_max']} px, "
        f"{result['photos']['kb_min']} to {result['photos']['kb_max']} KB, multipart `file`.",
        "",
        f"Service settings: {', '.join(f'{k}={v}' for k, v in service['settings'].items())}.",
        "",
        "### Targets",
        "",
        _row("target", "measured", "required", "verdict"),
        _row("---", "---", "---", "---"),
    ]
    for verdict in result["verdicts"]:
        lines.append(_row(verdict["target"], verdict["measured"], verdict["required"],
                          _mark(verdict)))
    speed = result.get("speed_verdicts") or []
    if speed:
        lines += ["", "### Targets of speed 2 (issue 19), per backend", "",
                  _row("backend", "target", "measured", "required", "verdict"),
                  _row("---", "---", "---", "---", "---")]
        lines += [_row(verdict["backend"], verdict["target"], verdict["measured"],
                       verdict["required"], _mark(verdict)) for verdict in speed]
    lines += ["", "### The service (`python -m service`), closed loop", "",
              _row("C", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors", "server CPU ms/req",
                   "of which event loop", "mean batch", "mean pass ms"),
              _row("---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:")]
    for phase in service["phases"]:
        lines.append(_row(phase["concurrency"], phase["rps"], phase["p50_ms"], phase["p90_ms"],
                          phase["p99_ms"], _errors(phase), phase["server_cpu_ms_per_request"],
                          phase["event_loop_cpu_ms_per_request"], phase.get("mean_batch_size"),
                          phase.get("mean_pass_ms")))
    overload = service.get("overload")
    if overload:
        lines.append(_row(f"{overload['concurrency']} (over the bound)", overload["rps"],
                          overload["p50_ms"], overload["p90_ms"], overload["p99_ms"],
                          _errors(overload), overload["server_cpu_ms_per_request"],
                          overload["event_loop_cpu_ms_per_request"], None, None))
    lines += ["", "Server CPU ms/req: CPU time (all threads) the server used per answered request "
              "in the measured window (and that of its main thread, the event loop): what a "
              "request costs, however much of the machine the server got. Mean pass: the "
              "service's own forward passes in the window (its batch-duration metric, timed "
              "on the inference thread: normalising the batch and reading its answers "
              "included, the hand-offs to and from the event loop not)."]
    lines += _measurements_section(service.get("measurements"))
    lines += _batch_command_section(result)
    cold = service["cold_start"]
    lines += ["", "### Cold start and memory", "",
              _row("", "median", "runs"), _row("---", "---:", "---:"),
              _row("process start to first 200 from /readyz, s", cold["ready_s_median"],
                   ", ".join(map(str, cold["ready_s"]))),
              _row("process start to first prediction, s", cold["first_prediction_s_median"],
                   ", ".join(map(str, cold["first_prediction_s"]))),
              _row("`import service.http.app` in a fresh interpreter, s", cold["import_s_median"],
                   ", ".join(map(str, cold["import_s"]))),
              _row("model load + verify, s (from the service's log)",
                   cold.get("load_s_median"), ", ".join(map(str, cold.get("load_s", [])))),
              _row("warm-up, s (from the service's log)", cold.get("warm_up_s_median"),
                   ", ".join(map(str, cold.get("warm_up_s", [])))),
              "",
              _row("server", "RSS when ready, MB", "peak RSS (VmHWM), MB"),
              _row("---", "---:", "---:"),
              _row("service", service["memory"]["ready_mb"], service["memory"]["peak_mb"]),
              _row("naive reference", result["naive"]["memory"]["ready_mb"],
                   result["naive"]["memory"]["peak_mb"])]
    lines += ["", "### Naive reference (tutorial style, same model, "
              f"{result['naive']['threads']} torch thread(s)), closed loop", "",
              _row("endpoint", "C", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors",
                   "server CPU ms/req"),
              _row("---", "---:", "---:", "---:", "---:", "---:", "---:", "---:")]
    for name, runs in result["naive"]["modes"].items():
        for phase in runs:
            lines.append(_row(name, phase["concurrency"], phase["rps"], phase["p50_ms"],
                              phase["p90_ms"], phase["p99_ms"], _errors(phase),
                              phase["server_cpu_ms_per_request"]))
    lines += ["", f"### The model alone ({result['parts'][0]['threads']} torch thread(s), "
              "preprocessed tensors), images/s by batch size, best of the runs", "",
              f"The service's TorchScript passes are `{served_variant(result['parts'])}` "
              "(INFERENCE_PRECISION as resolved on this machine).", ""]
    sizes = list(result["parts"][0]["images_per_second"]["torchscript"].keys())
    lines += [_row("variant", *sizes, "batch-1 ms"), _row("---", *(["---:"] * (len(sizes) + 1)))]
    for variant in result["parts"][0]["images_per_second"]:
        rates = [max(run["images_per_second"][variant][size] for run in result["parts"])
                 for size in sizes]
        ms = min(run["batch1_ms"][variant] for run in result["parts"])
        lines.append(_row(variant, *rates, ms))
    previous = result.get("service_previous")
    if previous:
        lines += _service_section(
            f"The service with the previous model ({previous['model']['version']}, "
            f"{previous['model']['architecture']}), same photos, same run", previous)
    onnx_service = result.get("service_onnx")
    if onnx_service:
        lines += _service_section(
            "The service with `MODEL_BACKEND=onnx` (ONNX Runtime, same network)", onnx_service)
        lines += ["(Under ONNX Runtime the service never imports torch: its preprocessing and "
                  "calibration are NumPy's, `service/model/networks.py`.)"]
    onnx = result.get("onnx")
    if onnx:
        lines += ["", "### ONNX Runtime against TorchScript, each alone in a fresh interpreter "
                  "(import, load, first and second batch-1 run, 1 thread)", "",
                  _row("runtime", "import s", "RSS after import MB", "load s", "first run s",
                       "second run ms", "peak RSS MB"),
                  _row("---", "---:", "---:", "---:", "---:", "---:", "---:")]
        for runtime, numbers in onnx["footprint"].items():
            lines.append(_row(runtime, numbers["import_s"], numbers.get("import_rss_mb"),
                              numbers["load_s"], numbers["first_run_s"],
                              numbers["second_run_ms"], numbers["peak_mb"]))
    part = result["parts"][0]
    if "normalise_ms" in part:
        lines += ["", "Stacking and normalising decoded photos into a batch before each pass, "
                  "through each backend's own `Network.prepare` (median; TorchScript: torch on "
                  "a channels-last view; ONNX Runtime: NumPy): "
                  f"{_normalise_costs(result)}."]
    lines += ["", f"Decoding one upload (median over the photos): the service's path "
              f"{min(r['decode_ms_median'] for r in result['parts'])} ms (draft-mode JPEG, one "
              f"resize, uint8 pixels); the naive path {part['naive_decode_ms_median']} ms "
              "(whole photo, torchvision transforms)."]
    return "\n".join(lines) + "\n"


def _mark(verdict: dict[str, Any]) -> str:
    return {True: "PASS", False: "**FAIL**", None: "n/a"}[verdict["passed"]]


def _errors(phase: dict[str, Any]) -> str:
    if not phase["errors"]:
        return "0"
    codes = ", ".join(f"{code}: {count}" for code, count in phase["errors_by_code"].items())
    return f"{phase['errors']} ({codes})"


def publish(markdown_text: str, existing: str | None) -> str:
    """The committed BENCHMARK.md: its hand-written parts kept, the generated part replaced."""
    block = f"{MARKER_BEGIN}\n{markdown_text}{MARKER_END}\n"
    if existing and MARKER_BEGIN in existing and MARKER_END in existing:
        before = existing.split(MARKER_BEGIN)[0]
        after = existing.split(MARKER_END, 1)[1].lstrip("\n")
        return before + block + ("\n" + after if after else "")
    return "# Benchmark\n\nLatest `make bench`:\n\n" + block
