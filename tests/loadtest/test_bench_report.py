"""The benchmark's per-backend verdicts (issue 19's targets) and its pass-time figures, from a
result shaped like `make bench` writes; the benchmark itself is never run in tests."""

from __future__ import annotations

import pytest

from loadtest.bench.__main__ import batch_figures
from loadtest.bench.report import speed_verdicts


def phase(concurrency: int, *, rps: float, p50: float, p99: float, cpu: float, loop: float,
          batch: float, pass_ms: float) -> dict:
    return {"concurrency": concurrency, "rps": rps, "p50_ms": p50, "p99_ms": p99,
            "server_cpu_ms_per_request": cpu, "event_loop_cpu_ms_per_request": loop,
            "mean_batch_size": batch, "mean_pass_ms": pass_ms}


def result_with(onnx_ready_s: float, onnx_ready_mb: float) -> dict:
    parts = [{"decode_ms_median": 4.0,
              "batch1_ms": {"torchscript channels-last": 11.0, "onnxruntime": 7.0},
              "lone_request": {"torchscript": {"decode_ms": 4.5, "pass_ms": 15.0,
                                               "serial_ms": 19.6}},
              "images_per_second": {
                  "torchscript channels-last": {"1": 90.0, "2": 95.0, "4": 100.0},
                  "onnxruntime": {"1": 140.0, "2": 142.0, "4": 150.0}}}]
    torchscript = {"phases": [phase(1, rps=40, p50=22.0, p99=28, cpu=22.0, loop=2.0, batch=1.0,
                                    pass_ms=16.0),
                              phase(32, rps=85, p50=370, p99=400, cpu=16.0, loop=1.3, batch=3.6,
                                    pass_ms=40.0)],
                   "cold_start": {"ready_s": [1.8, 1.9, 1.8], "ready_s_median": 1.8},
                   "memory": {"ready_mb": 600.0, "peak_mb": 760.0}, "overload": {}}
    onnx = {"phases": [phase(1, rps=75, p50=12.5, p99=18, cpu=13.0, loop=1.7, batch=1.0,
                             pass_ms=7.5),
                       phase(32, rps=120, p50=260, p99=290, cpu=12.5, loop=1.2, batch=4.0,
                             pass_ms=27.0)],
            "cold_start": {"ready_s": [onnx_ready_s], "ready_s_median": onnx_ready_s},
            "memory": {"ready_mb": onnx_ready_mb, "peak_mb": 300.0}}
    footprint = {"torchscript": {"import_s": 1.3, "import_rss_mb": 480.0}}
    return {"parts": parts, "service": torchscript, "service_onnx": onnx,
            "onnx": {"footprint": footprint}}


def verdict(verdicts: list[dict], backend: str, target: str) -> dict:
    (found,) = [v for v in verdicts if v["backend"] == backend and v["target"].startswith(target)]
    return found


def test_each_backend_is_judged_against_its_own_parts():
    verdicts = speed_verdicts(result_with(onnx_ready_s=0.9, onnx_ready_mb=150.0))
    assert {v["backend"] for v in verdicts} == {"TorchScript", "ONNX Runtime"}
    # TorchScript: 16.0 ms of CPU against 4.0 + 10.0 (batch 4 at 100 img/s): x1.14.
    cpu = verdict(verdicts, "TorchScript", "server CPU per request")
    assert cpu["passed"] and "4.0 + 10.0 (batch 4)" in cpu["measured"]
    # A miss shows what the runtime alone costs, measured in the same run.
    ready = verdict(verdicts, "TorchScript", "process start to ready")
    assert not ready["passed"] and ready["measured"].endswith("the runtime alone takes 1.3 s")
    rss = verdict(verdicts, "TorchScript", "RSS when ready")
    assert not rss["passed"] and rss["measured"].endswith("just imported, is 480.0 MiB resident")
    lone = verdict(verdicts, "TorchScript", "p50 at C=1")
    assert not lone["passed"] and "own passes took 16.0 ms" in lone["measured"]
    # Its parts in turn without HTTP: 19.6 of the 22.0 ms; HTTP and the loop took the rest.
    assert "4.5 + 15.0 = 19.6 ms" in lone["measured"]
    assert "(2.0 ms of its CPU per request)" in lone["measured"]
    assert lone["measured"].endswith("took the other 2.4 ms")
    # ONNX Runtime: its own ceiling (150 img/s) and batch-1 pass (7 ms) are the references.
    assert verdict(verdicts, "ONNX Runtime", "throughput at C=32")["measured"].endswith("80%")
    onnx_lone = verdict(verdicts, "ONNX Runtime", "p50 at C=1")
    assert onnx_lone["passed"]  # 12.5 <= 4 + 7 + 2
    assert "without HTTP" not in onnx_lone["measured"]  # this run did not time its parts in turn
    onnx_ready = verdict(verdicts, "ONNX Runtime", "process start to ready")
    # No footprint of ONNX Runtime in this result, so no figure of the runtime alone.
    assert onnx_ready["passed"] and onnx_ready["measured"] == "0.9 s (median of 1)"
    assert verdict(verdicts, "ONNX Runtime", "RSS when ready")["passed"]


def test_a_slow_start_or_a_large_footprint_fails():
    verdicts = speed_verdicts(result_with(onnx_ready_s=1.6, onnx_ready_mb=401.0))
    assert not verdict(verdicts, "ONNX Runtime", "process start to ready")["passed"]
    assert not verdict(verdicts, "ONNX Runtime", "RSS when ready")["passed"]


def test_a_backend_the_run_did_not_serve_is_left_out():
    result = result_with(onnx_ready_s=0.9, onnx_ready_mb=150.0)
    del result["service_onnx"]
    assert {v["backend"] for v in speed_verdicts(result)} == {"TorchScript"}


def test_a_bfloat16_service_is_judged_against_the_bfloat16_pass():
    result = result_with(onnx_ready_s=0.9, onnx_ready_mb=150.0)
    (part,) = result["parts"]
    part["precision"] = "bfloat16"
    part["batch1_ms"]["torchscript channels-last bfloat16"] = 6.0
    part["images_per_second"]["torchscript channels-last bfloat16"] = {"1": 160.0, "2": 180.0,
                                                                       "4": 200.0}
    verdicts = speed_verdicts(result)
    # 16.0 ms of CPU against 4.0 + 5.0 (batch 4 at 200 img/s, not float32's 100).
    cpu = verdict(verdicts, "TorchScript", "server CPU per request")
    assert "4.0 + 5.0 (batch 4)" in cpu["measured"]
    lone = verdict(verdicts, "TorchScript", "p50 at C=1")
    assert "4.0 + 6.0 + 2" in lone["measured"]


def test_mean_batch_and_pass_time_come_from_the_metrics_between_two_readings():
    figures = batch_figures((10.0, 5.0, 0.05), (40.0, 15.0, 0.25))
    assert figures == {"mean_batch_size": 3.0, "mean_pass_ms": pytest.approx(20.0)}
    assert batch_figures(None, (1.0, 1.0, 0.01)) == {"mean_batch_size": None,
                                                     "mean_pass_ms": None}
