# syntax=docker/dockerfile:1
# Penguin classifier: the FastAPI service on CPU-only PyTorch, for Cloud Run or any Knative
# cluster (deploy/README.md). Build: `make docker-build`; run: `make docker-run`.
#
# Base image: Debian 13 (trixie) slim with CPython 3.11, pinned to the patch release.
# To pin the exact bytes too, append the digest that this prints to both FROM lines:
#   docker buildx imagetools inspect python:3.11.17-slim-trixie --format '{{.Manifest.Digest}}'
# (it could not be resolved where this file was written: no registry access there).

# ---- builder: a venv holding exactly requirements/runtime.txt -------------------------------
FROM python:3.11.17-slim-trixie AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Dependencies come before any code, so editing service/ or weights/ reuses these layers.
COPY requirements/runtime.txt /tmp/runtime.txt

# torch alone, from the PyTorch CPU index: PyPI's Linux wheel is the CUDA build, which pulls in
# gigabytes of CUDA libraries a CPU service never loads. Same pinned version as the lock file
# (`torch==2.14.1` there is satisfied by the CPU index's `2.14.1+cpu`).
RUN grep -E '^torch==' /tmp/runtime.txt > /tmp/torch.txt \
 && pip install --no-cache-dir --only-binary=:all: --no-deps \
        --index-url https://download.pytorch.org/whl/cpu -r /tmp/torch.txt

# Everything else, every version pinned by the lock file; torch is already satisfied. gcsfs is
# among them: the same image runs the batch command over gs:// buckets as a Cloud Run Job.
# pip check fails the build if the lock misses a dependency of anything installed.
RUN pip install --no-cache-dir --only-binary=:all: -r /tmp/runtime.txt \
 && pip check

# ---- runtime: the venv, the service code and the model, nothing else ------------------------
FROM python:3.11.17-slim-trixie AS runtime

# A fixed numeric uid, so Kubernetes' runAsNonRoot can verify it; no home, no login shell.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv

# The root file system may be mounted read-only (`make docker-run` does so): everything that
# could want to write (Python, torch, any library's cache) is pointed at /tmp, the only writable
# path (a tmpfs under `docker run --read-only --tmpfs /tmp`, in-memory on Cloud Run).
# No thread counts here: the service sizes torch's and the decoders' threads from the CPUs the
# container is given (its cgroup quota), e.g. 2 on Cloud Run with --cpu 2. TORCH_THREADS and
# DECODE_WORKERS override that.
# No glibc allocator settings: MALLOC_ARENA_MAX=2 changed nothing, and the fixed mmap
# thresholds that return memory after a burst of 40 Mpx uploads (1140 -> 606 to 633 MiB) cost
# 20 to 90 % more CPU on every typical request (loadtest/MEMORY.md, "Notes").
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    TORCH_HOME=/tmp/.cache/torch \
    HOST=0.0.0.0 \
    PORT=8080 \
    MODEL_PATH=/app/weights/penguin_classifier.pt \
    MEASUREMENTS_MODEL_PATH=/app/weights/penguin_measurements.json

WORKDIR /app
# The model changes less often than the code, so it comes first. Both stay owned by root:
# the service can read them but not change them. The model in both formats: TorchScript (the
# default) and its ONNX export, which MODEL_BACKEND=onnx serves with ONNX Runtime (a serving
# dependency in the lock file); the metadata holds both checksums.
COPY weights/penguin_classifier.pt weights/penguin_classifier.onnx \
     weights/penguin_classifier.json weights/penguin_measurements.json /app/weights/
COPY service/ /app/service/
# Bytecode compiled now, since at run time Python may not write it (read-only file system):
# saves compiling the service on every cold start. (The venv's packages were compiled by pip.)
RUN python -m compileall -q /app/service

USER 10001:10001
# Documentation only: the service listens on $PORT, which Cloud Run and Knative set.
EXPOSE 8080

# For `docker run` and Compose; Cloud Run and Knative ignore it and use the probes in
# deploy/service.yaml. Liveness only (/healthz): /readyz is for routing traffic. No curl in a
# slim image, so Python's urllib does the request (any non-2xx answer raises, exit code 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)"]

# Exec form: python is PID 1 and receives SIGTERM itself, so uvicorn drains in-flight requests
# when Cloud Run or Kubernetes stops the container (a shell in between would swallow it).
CMD ["python", "-m", "service"]
