"""Opening the workloads' backends, with a one-line error for the command line."""

from __future__ import annotations

from contextlib import ExitStack


def open_backend(target: str):
    """`Accelerator.open(target)`; a bad target or a missing device exits with its reason."""
    from sw.driver import Accelerator, DriverError

    try:
        return Accelerator.open(target)
    except (ValueError, DriverError) as error:
        raise SystemExit(f"error: cannot open backend {target!r}: {error}") from error


def reference_target(target: str) -> str:
    """The bit-exact reference of the same named device (``sim:icebreaker,stall=0.1`` ->
    ``ref:icebreaker``), so that both refuse and split layers alike; ``ref`` otherwise."""
    kind, _, rest = target.partition(":")
    name = rest.split(",")[0]
    return f"ref:{name}" if kind in ("sim", "ref") and name else "ref"


def open_with_ref(stack: ExitStack, target: str):
    """``(ref, backend)`` registered on ``stack``; the same object when ``target`` is ref."""
    ref = stack.enter_context(open_backend(reference_target(target)))
    backend = ref if target.startswith("ref") else stack.enter_context(open_backend(target))
    return ref, backend
