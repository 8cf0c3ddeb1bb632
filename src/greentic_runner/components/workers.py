"""The threads component calls run on, with a cheaper hand-off than ``asyncio.to_thread``.

A call must not run on the event loop (a slow component would stall every other turn), but
for a small component the hop to a worker thread and back can cost as much as the call.
``asyncio.to_thread`` goes through ``ThreadPoolExecutor`` and ``wrap_future``: a work item,
a ``concurrent.futures.Future`` with its own condition variable, and a chain of callbacks,
each taking locks the event loop thread then contends for. Here a job is a tuple on a
``SimpleQueue`` and its result goes straight back with one ``call_soon_threadsafe``, which on
a busy single core roughly halves the hop.

Threads are started on demand (one more whenever a job finds no idle thread, up to
``max_threads``, so one slow component never queues the others behind it) and stopped by
:meth:`WorkerThreads.stop`; the invoker ties both to its ``async with`` lifespan.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_MAX_THREADS = 16

_Job = tuple[
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
    contextvars.Context,
    Callable[..., Any],
    tuple[Any, ...],
]


class WorkerThreads:
    """A small, growing set of daemon threads running blocking calls for an event loop."""

    def __init__(self, max_threads: int = DEFAULT_MAX_THREADS, name: str = "wasm-call") -> None:
        if max_threads <= 0:
            raise ValueError("max_threads must be positive")
        self.max_threads = max_threads
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # released by a thread each time it waits for work
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = True  # until start()

    @property
    def thread_count(self) -> int:
        return len(self._threads)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on a worker thread (in a copy of the caller's context)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._submit((loop, future, contextvars.copy_context(), fn, args))
        return await future

    def _submit(self, job: _Job) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker threads are not started")
            self._jobs.put(job)
            if self._idle.acquire(blocking=False):
                return  # an idle thread will take it
            if len(self._threads) < self.max_threads:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            loop, future, context, fn, args = job
            try:
                result, error = context.run(fn, *args), None
            except BaseException as exc:  # handed to the awaiting task, never lost here
                result, error = None, exc
            # Idle before the caller can see the result, so its next call finds this thread
            # instead of starting another one.
            self._idle.release()
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                log.debug("dropping the result of %r: its event loop is closed", fn)
            del job, future, result, error

    @property
    def running(self) -> bool:
        return not self._closed

    def stop(self) -> None:
        """Let queued and running jobs finish, then end every thread (blocks: call off the loop)."""
        with self._lock:
            self._closed = True
            threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join()

    def start(self) -> None:
        """Accept jobs (threads start on demand); also after :meth:`stop`."""
        with self._lock:
            if self._closed:
                self._closed = False
                self._idle = threading.Semaphore(0)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # the caller gave up (e.g. the turn's own timeout)
        return
    if isinstance(error, StopIteration):  # an asyncio Future refuses to hold one
        error = RuntimeError(f"worker call raised StopIteration: {error}")
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
