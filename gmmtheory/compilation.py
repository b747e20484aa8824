"""Counting jax work: how many jaxpr traces and XLA backend compilations a block of code triggers.

A jitted engine that is called again with the same shapes must not retrace or recompile; bad input must be refused
before any trace. Both are checked by counting the ``jax.monitoring`` duration events that jax emits for every trace
(``/jax/core/compile/jaxpr_trace_duration``) and every backend compilation
(``/jax/core/compile/backend_compile_duration``):

    from gmmtheory.compilation import count_compilations

    with count_compilations() as counts:
        gt.class_entropy(mix, gt.OU(), t)
    assert counts == {"traces": 0, "compiles": 0}
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax.monitoring

__all__ = ["COMPILE_EVENTS", "count_compilations"]

COMPILE_EVENTS: dict[str, str] = {
    "/jax/core/compile/jaxpr_trace_duration": "traces",
    "/jax/core/compile/backend_compile_duration": "compiles",
}


@contextlib.contextmanager
def count_compilations() -> Iterator[dict[str, int]]:
    """Count jaxpr traces and XLA backend compilations inside the ``with`` block.

    Yields a dict ``{"traces": n_traces, "compiles": n_compiles}`` that is updated while the block runs.
    """
    counts = {"traces": 0, "compiles": 0}

    def listener(event: str, duration: float, **kwargs: Any) -> None:
        if event in COMPILE_EVENTS:
            counts[COMPILE_EVENTS[event]] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield counts
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
