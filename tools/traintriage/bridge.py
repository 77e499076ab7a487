"""Run a blocking probe-style function from async code: progress forwarded, cancellation kills the child.

The probe, triage and grads functions block for seconds to minutes and take `on_progress(done, total,
message)` and `cancel` (a threading.Event the runner polls). The MCP server awaits them through
`run_cancellable`; this module knows nothing of MCP (it takes the async `report_progress` to call).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

log = logging.getLogger("traintriage.bridge")

ReportProgress = Callable[[float, float | None, str | None], Awaitable[None]]


async def run_cancellable(report_progress: ReportProgress, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Await `fn(on_progress=..., cancel=..., **kwargs)` run in a worker thread.

    Progress: the worker calls on_progress(done, total, message); we hop it onto the event loop through a
    memory stream and forward it with `report_progress` (best-effort: a failing client does not fail the
    call). Cancel: when the awaiting task is cancelled (the client's notifications/cancelled, or shutdown),
    we set the `cancel` event; the runner polls it and kills its child process. The thread is abandoned
    rather than awaited, so the cancellation answers at once. An exception from `fn` propagates as is.
    """
    cancel = threading.Event()
    send, recv = anyio.create_memory_object_stream[tuple[float, float | None, str]](math.inf)
    token = anyio.lowlevel.current_token()

    def on_progress(done: float, total: float | None = None, message: str = "") -> None:
        try:
            anyio.from_thread.run_sync(send.send_nowait, (done, total, message), token=token)
        except Exception:  # the loop is gone or the stream closed: progress is best-effort
            log.debug("progress dropped", exc_info=True)

    async def forward() -> None:
        async with recv:
            async for done, total, message in recv:
                try:
                    await report_progress(done, total, message or None)
                except Exception:  # a client that went away must not fail the tool
                    log.debug("progress notification failed", exc_info=True)

    call = functools.partial(fn, on_progress=on_progress, cancel=cancel, **kwargs)
    result: Any = None
    error: Exception | None = None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(forward)
            try:
                result = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
            except Exception as e:  # kept out of the task group so it is not wrapped in an ExceptionGroup
                error = e
            finally:
                send.close()
    except BaseException:
        cancel.set()  # the request was cancelled: the runner sees this and kills the child
        raise
    if error is not None:
        cancel.set()
        raise error
    return result
