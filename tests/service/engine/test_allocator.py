"""The malloc thresholds the service fixes at start-up: freed memory is reused, not faulted in
again, and an operator's own MALLOC_* settings are left alone. Each case runs in a fresh
interpreter, as the service's process sets them once at its start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

# Eight 4 MiB blocks allocated and freed, four times over; the page faults of each round.
ROUNDS = """
import json, resource, sys
import numpy as np
from service.engine.allocator import keep_freed_memory_for_reuse
took = keep_freed_memory_for_reuse() if sys.argv[1] == "fix" else None
faults = []
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [np.ones(4 * 1024 * 1024 // 8) for _ in range(8)]
    del blocks
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"took": took, "faults": faults}))
"""


def rounds(mode: str, **env: str) -> dict:
    finished = subprocess.run([sys.executable, "-c", ROUNDS, mode], cwd=REPO_ROOT, check=True,
                              capture_output=True, text=True, env={**os.environ, **env})
    return json.loads(finished.stdout)


def test_freed_blocks_are_reused_without_faulting_them_in_again():
    fixed = rounds("fix")
    assert fixed["took"] is True
    first = fixed["faults"][0]
    assert first >= 1000  # the first round faults 32 MiB in (the kernel maps a few pages a fault)
    assert max(fixed["faults"][1:]) < first / 20  # later rounds reuse it
    default = rounds("leave")
    assert min(default["faults"][1:]) >= first / 2  # glibc's defaults fault it in every round


def test_an_operators_own_setting_wins():
    assert rounds("fix", MALLOC_TRIM_THRESHOLD_="1000000")["took"] is False
