"""Peak-memory probe, run in a fresh process by ``benchmarks.measure_memory``.

``python -m benchmarks._child MODULE FUNC JSON_KWARGS``: configures threads (from ``GMM_BENCH_THREADS``), imports
``benchmarks.MODULE``, calls ``FUNC(**kwargs)`` — which does all set-up (imports, data, mixture) and returns a
zero-argument callable — records the peak resident set size (``VmHWM``), runs the callable once, records the peak
again, and prints one JSON line: ``{"setup_kb", "peak_kb", "device_peak_bytes"}``. The growth between the two is
the memory the call itself needed (compilation included, for jax code).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import threads_from_argv  # noqa: E402

threads_from_argv([])


def main() -> int:
    from benchmarks import block, device_peak_bytes, peak_rss_kb

    module, func, kwargs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    call = getattr(importlib.import_module(f"benchmarks.{module}"), func)(**kwargs)
    setup_kb = peak_rss_kb()
    block(call())
    print(json.dumps({"setup_kb": setup_kb, "peak_kb": peak_rss_kb(), "device_peak_bytes": device_peak_bytes()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
