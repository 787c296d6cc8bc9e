"""A scenario that drains a backlog (S1, S2, S3, S6's calibration) measures one window of it:
the first WARM_SHARE is not measured (connections, group joins, the first reads); the window
then lasts duration_s or until only TAIL_SHARE of the backlog is left, whichever comes first,
so that the reader never waits on an empty queue inside it. Afterwards the rest must arrive."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from .meter import Meter
from .procs import count_window, wait_until
from .results import RunSample
from .stub import FunctionStub
from .triggerd import Triggerd

if TYPE_CHECKING:
    from .context import Context

WARM_SHARE = 0.05   # of the backlog, delivered before the window opens
TAIL_SHARE = 0.10   # of the backlog, left when the window closes at the latest


@dataclass
class Window:
    seconds: float
    first: int              # the stub's request count as the window opened
    last: int               # and as it closed
    meter: Meter | None     # the processes metered over the window
    probed: tuple[Any, Any] = (None, None)   # probe() as the window opened and as it closed

    @property
    def delivered(self) -> int:
        return self.last - self.first

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    def per_event_us(self, seconds: float) -> float:
        """`seconds` (of CPU time) spent over the window, per event delivered in it, in us."""
        return seconds / self.delivered * 1e6 if self.delivered else 0.0

    def cores(self, seconds: float) -> float:
        """`seconds` (of CPU time) spent over the window, in cores."""
        return seconds / self.seconds if self.seconds else 0.0


def measure_window(ctx: Context, stub: FunctionStub, backlog: int, what: str = "entries",
                   metered: dict[str, int] | None = None, profile: tuple[int, str] | None = None,
                   on_stats: Callable[[dict], None] | None = None,
                   probe: Callable[[], Any] | None = None, warm_timeout: float = 60,
                   warm_interval: float = 0.05, interval: float = 0.2,
                   events: Callable[[], int] | None = None) -> Window:
    """Waits until the first WARM_SHARE of `backlog` reached the stub, then measures the window
    on the stub's request count, read every `interval` s. Over the window: the `metered`
    processes' CPU time, the --perf profile `profile` (pid, name), `on_stats` given every stats
    read of the stub, and `probe` read at both ends. `events`: counts the events delivered in
    place of the stub's requests (batches: one request carries many events); `on_stats` is
    not called then."""
    warm = int(backlog * WARM_SHARE)
    counted: Callable[[], int] = events if events is not None else stub.requests
    wait_until(lambda: counted() >= warm, timeout=warm_timeout, interval=warm_interval,
               what=f"the first {warm} {what} to reach the function")

    def count() -> int:
        if events is not None:
            return int(events())
        stats = stub.stats()
        if on_stats is not None:
            on_stats(stats)
        return int(stats["requests"])

    with ctx.profile(*profile) if profile else contextlib.nullcontext():
        meter = Meter(metered) if metered is not None else None
        opened = probe() if probe else None
        seconds, first, last = count_window(count, ctx.duration_s,
                                            int(backlog * (1 - TAIL_SHARE)), interval)
        if meter is not None:
            meter.stop()
        closed = probe() if probe else None
    return Window(seconds, first, last, meter, (opened, closed))


def wait_for_the_rest(sample: RunSample, stub: FunctionStub, broker: Triggerd, trigger: str,
                      backlog: int, timeout: float, interval: float,
                      events: Callable[[], int] | None = None) -> float:
    """Waits until the whole backlog reached the function and the trigger has nothing in flight;
    a timeout fails the sample's check. Returns the time.monotonic() at which the last event
    arrived (or the wait gave up). `events`: as measure_window takes it."""
    counted: Callable[[], int] = events if events is not None else stub.requests
    try:
        wait_until(lambda: counted() >= backlog, timeout=timeout, interval=interval,
                   what="the whole backlog to reach the function")
        arrived = time.monotonic()
        broker.wait_idle(trigger)
    except TimeoutError as error:
        arrived = time.monotonic()
        sample.check(False, str(error))
    return arrived


@dataclass
class Totals:
    """How a run ended, once the rest of the backlog arrived."""
    delivered: float            # triggerd_events_delivered_total of the trigger
    at_stub: int                # the stub's request count
    peak_rss_mib: float         # triggerd's VmHWM
    exit_status: int | None     # triggerd's, on SIGTERM


def stop_and_count(broker: Triggerd, stub: FunctionStub, trigger: str) -> Totals:
    """Reads the counts and triggerd's peak RSS, then stops triggerd."""
    delivered = broker.metric("triggerd_events_delivered_total", trigger=trigger)
    at_stub = stub.requests()
    peak_rss_mib = broker.peak_rss_mib()
    return Totals(delivered, at_stub, peak_rss_mib, broker.stop())


def check_drained(sample: RunSample, backlog: int, window: Window, totals: Totals,
                  prefix: str = "", batch_events: int = 1) -> None:
    """Events flowed in the window, every entry of the stream reached the function once, by
    triggerd's count and the function's, and triggerd stopped cleanly. Failures start with
    `prefix`. `batch_events` > 1: batches of up to that many events, one request each, so the
    function's request count lies between backlog / batch_events and backlog."""
    sample.check(window.delivered > 0, f"{prefix}no event reached the function")
    if batch_events <= 1:
        sample.check(totals.delivered == backlog == totals.at_stub,
                     f"{prefix}events lost or duplicated: {backlog} in the stream, triggerd "
                     f"delivered {totals.delivered:.0f}; the function saw {totals.at_stub}")
    else:
        fewest = -(-backlog // batch_events)
        sample.check(totals.delivered == backlog,
                     f"{prefix}events lost or duplicated: {backlog} in the stream, triggerd "
                     f"delivered {totals.delivered:.0f}")
        sample.check(fewest <= totals.at_stub <= backlog,
                     f"{prefix}the function saw {totals.at_stub} requests for {backlog} events "
                     f"in batches of up to {batch_events}: expected {fewest} to {backlog}")
    sample.check(totals.exit_status == 0,
                 f"{prefix}triggerd exited {totals.exit_status} on SIGTERM")
