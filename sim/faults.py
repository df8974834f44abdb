"""Faults injected between the driver and the simulated device, to prove the driver's rule:
every call returns the right result or raises, and the device works again afterwards.

Each fault is what a real serial line or board does to a host:

``stray_byte``      one byte of line noise before the next request
``truncated_frame`` a request cut off part way (the rest never sent)
``garbage``         a burst of random bytes (A5 sync bytes included)
``late_reply``      the device answers after the driver has stopped waiting
                    (the simulator is paused for longer than the driver's timeout)
``killed``          the simulator dies

`run_trials` applies random faults among many ``matmul`` calls checked against
``ref`` and counts what happened; the test suite and ``bench/link.py`` use it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from sw.device.payloads import encode_layer
from sw.device.protocol import HOST_SYNC, Op, encode_request
from sw.driver import DriverError
from sw.kernel.random_layer import random_product

RECOVERABLE_FAULTS = ("stray_byte", "truncated_frame", "garbage", "late_reply")


def inject(acc, fault: str, rng: np.random.Generator) -> threading.Timer | None:
    """Do ``fault`` to the link of ``acc`` (a ``sim`` accelerator) before its next call.

    For ``late_reply`` the simulator is paused now and resumed by the returned timer,
    after the driver's timeout has passed (the caller shortens that timeout)."""
    link = acc.raw
    if fault == "stray_byte":
        link.write(bytes([int(rng.integers(0, 256))]))
    elif fault == "truncated_frame":
        frame = encode_request(Op.LOAD_LAYER, encode_layer(acc.spec, acc.codes, acc.info), tag=77)
        link.write(frame[: int(rng.integers(1, len(frame)))])
    elif fault == "garbage":
        burst = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8)
        burst[rng.random(burst.size) < 0.2] = HOST_SYNC  # sync bytes start false frames
        link.write(burst.tobytes())
    elif fault == "late_reply":
        pid = link.simulator.process.pid
        os.kill(pid, signal.SIGSTOP)
        timer = threading.Timer(link.timeout * 3, os.kill, (pid, signal.SIGCONT))
        timer.start()
        return timer
    elif fault == "killed":
        link.simulator.process.kill()
    else:
        raise ValueError(f"unknown fault {fault!r}; known: {RECOVERABLE_FAULTS + ('killed',)}")
    return None


@dataclass
class FaultReport:
    calls: int = 0
    correct: int = 0
    wrong: int = 0  # must stay 0
    raised: int = 0  # calls that raised (allowed: never a wrong result)
    recovered: int = 0  # calls that met a fault, retried and returned the right result
    faults: dict = field(default_factory=dict)
    recovery_s: list = field(default_factory=list)  # fault to the next right result
    errors: dict = field(default_factory=dict)  # exception type -> count

    def as_dict(self) -> dict:
        recovery = np.array(self.recovery_s) if self.recovery_s else np.zeros(1)
        return {
            "calls": self.calls,
            "correct": self.correct,
            "wrong": self.wrong,
            "raised": self.raised,
            "recovered": self.recovered,
            "faults": self.faults,
            "errors": self.errors,
            "recovery_s_median": float(np.median(recovery)),
            "recovery_s_max": float(recovery.max()),
        }


def run_trials(
    acc,
    rng: np.random.Generator,
    *,
    calls: int,
    fault_rate: float,
    faults=RECOVERABLE_FAULTS,
    layers: int = 3,
    timeout: float = 0.5,
) -> FaultReport:
    """``calls`` matmul calls on ``acc`` (a ``sim`` accelerator), each preceded by a random
    fault with probability ``fault_rate``; every result is compared with the reference."""
    from sw.kernel import matmul

    report = FaultReport()
    acc.raw.timeout = timeout
    products = [
        random_product(rng, int(rng.integers(1, 40)), int(rng.integers(1, 60)),
                       int(rng.integers(1, 20)), mode=mode)
        for mode in rng.choice(list(acc.info.weight_modes), layers)
    ]  # fmt: skip
    retried_before = acc.retried_calls
    fault_time = None
    for call in range(calls):
        product = products[call % layers]
        try:
            if acc.spec is not product.spec:
                acc.load_layer(product.spec, product.codes)
        except DriverError as error:
            report.raised += 1
            report.errors[type(error).__name__] = report.errors.get(type(error).__name__, 0) + 1
            continue
        timer = None
        if rng.random() < fault_rate:
            fault = str(rng.choice(list(faults)))
            report.faults[fault] = report.faults.get(fault, 0) + 1
            timer = inject(acc, fault, rng)
            fault_time = fault_time or time.monotonic()
        report.calls += 1
        try:
            y = acc.matmul(product.x)
        except DriverError as error:
            report.raised += 1
            report.errors[type(error).__name__] = report.errors.get(type(error).__name__, 0) + 1
        else:
            if np.array_equal(y, matmul(product.x, product.codes, product.spec)):
                report.correct += 1
                if fault_time is not None:
                    report.recovery_s.append(time.monotonic() - fault_time)
                    fault_time = None
            else:
                report.wrong += 1
        finally:
            if timer is not None:
                timer.join()
    report.recovered = acc.retried_calls - retried_before
    return report
