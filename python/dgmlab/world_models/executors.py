"""Rollout executors: ``map(fn, tasks)`` runs ``fn(task, attempt)`` for every task and returns results in order.

A rollout that runs past ``timeout_s`` is killed and retried (``attempt`` + 1, which re-seeds a rollout); a worker
that crashes is replaced and its task retried; after ``retries`` failed retries the call raises
:class:`RolloutError` naming the task. Nothing else in the generation is lost. Executors know nothing of CMA-ES.

- :class:`LocalExecutor`: a pool of worker processes, one pipe each (killing a worker cannot corrupt the others).
- :class:`RayExecutor`: Ray tasks on a local Ray instance or a cluster (``address=``); needs ``dgmlab[ray]``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol


class RolloutError(RuntimeError):
    """A task failed on every attempt."""


class Executor(Protocol):
    workers: int
    events: list[dict]

    def map(self, fn: Callable[[Any, int], Any], tasks: Sequence[Any], timeout_s: float = 600.0,
            retries: int = 2) -> list[Any]: ...

    def close(self) -> None: ...


def _worker_main(conn: Connection) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    while True:
        msg = conn.recv()
        if msg is None:
            return
        tid, attempt, fn, task = msg
        try:
            conn.send((tid, attempt, True, fn(task, attempt)))
        except Exception:  # noqa: BLE001 - reported to the parent, which retries or raises
            conn.send((tid, attempt, False, traceback.format_exc()))


class _Worker:
    def __init__(self, ctx: mp.context.BaseContext) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.job: tuple[int, int, float] | None = None  # (task id, attempt, deadline)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class LocalExecutor:
    """Process pool with per-rollout timeouts, retries and crash recovery.

    :param workers: processes (0: ``os.cpu_count()``).
    :param start_method: multiprocessing start method (``spawn`` is safe with torch and pygame).
    """

    def __init__(self, workers: int = 0, start_method: str = "spawn") -> None:
        self.workers = workers or os.cpu_count() or 1
        self._ctx = mp.get_context(start_method)
        self._pool: list[_Worker] = []
        self.events: list[dict] = []

    def map(self, fn: Callable[[Any, int], Any], tasks: Sequence[Any], timeout_s: float = 600.0,
            retries: int = 2) -> list[Any]:
        while len(self._pool) < self.workers:
            self._pool.append(_Worker(self._ctx))
        todo: deque[tuple[int, int]] = deque((i, 0) for i in range(len(tasks)))
        results: dict[int, Any] = {}
        while len(results) < len(tasks):
            for w in self._pool:
                if w.job is None and todo:
                    tid, attempt = todo.popleft()
                    w.conn.send((tid, attempt, fn, tasks[tid]))
                    w.job = (tid, attempt, time.monotonic() + timeout_s)
            busy = {w.conn: w for w in self._pool if w.job is not None}
            for conn in wait(list(busy), timeout=0.2):
                w = busy[conn]
                try:
                    tid, attempt, ok, value = conn.recv()
                except (EOFError, OSError):
                    continue  # the worker died; handled below
                w.job = None
                if ok:
                    results[tid] = value
                else:
                    self._retry(todo, tid, attempt, retries, "error", value)
            self._reap(todo, retries)
        return [results[i] for i in range(len(tasks))]

    def _reap(self, todo: deque, retries: int) -> None:
        """Kill workers past their deadline, replace dead ones, and requeue their tasks."""
        now = time.monotonic()
        for i, w in enumerate(self._pool):
            if w.job is None:
                continue
            tid, attempt, deadline = w.job
            if now > deadline or not w.proc.is_alive():
                kind = "timeout" if w.proc.is_alive() else f"crash (exit code {w.proc.exitcode})"
                w.kill()
                self._pool[i] = _Worker(self._ctx)
                self._retry(todo, tid, attempt, retries, kind, "")

    def _retry(self, todo: deque, tid: int, attempt: int, retries: int, kind: str, detail: str) -> None:
        self.events.append({"task": tid, "attempt": attempt, "kind": kind})
        if attempt >= retries:
            raise RolloutError(f"task {tid} failed {attempt + 1} times, last by {kind}; raise --timeout or check the "
                               f"environment\n{detail}")
        todo.append((tid, attempt + 1))

    def close(self) -> None:
        for w in self._pool:
            if w.proc.is_alive():
                try:
                    w.conn.send(None)
                except OSError:
                    pass
                w.proc.join(2)
            if w.proc.is_alive():
                w.kill()
        self._pool = []


def _ray_call(fn: Callable[[Any, int], Any], task: Any, attempt: int) -> Any:
    return fn(task, attempt)


class RayExecutor:
    """Ray tasks with the same timeout/retry contract as :class:`LocalExecutor`.

    :param address: ``None`` starts a local Ray instance; ``"auto"`` or ``"ray://host:port"`` joins a cluster.
    :param workers: CPUs for a local instance (0: all); ignored when joining a cluster.
    """

    def __init__(self, address: str | None = None, workers: int = 0) -> None:
        try:
            import ray
        except ImportError as err:
            raise ImportError("the Ray executor needs Ray: pip install 'dgmlab[ray]'") from err
        self._ray = ray
        if not ray.is_initialized():
            kwargs = {} if address else {"num_cpus": workers or os.cpu_count(), "include_dashboard": False}
            env = {"PYTHONPATH": os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
            ray.init(address=address, log_to_driver=False, runtime_env={"env_vars": env}, **kwargs)
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_ray_call)
        self.events: list[dict] = []

    def map(self, fn: Callable[[Any, int], Any], tasks: Sequence[Any], timeout_s: float = 600.0,
            retries: int = 2) -> list[Any]:
        ray = self._ray
        todo: deque[tuple[int, int]] = deque((i, 0) for i in range(len(tasks)))
        running: dict[Any, tuple[int, int, float]] = {}
        results: dict[int, Any] = {}
        fn_ref = ray.put(fn)
        while len(results) < len(tasks):
            while todo and len(running) < self.workers:
                tid, attempt = todo.popleft()
                ref = self._remote.remote(fn_ref, tasks[tid], attempt)
                running[ref] = (tid, attempt, time.monotonic() + timeout_s)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
            for ref in ready:
                tid, attempt, _ = running.pop(ref)
                try:
                    results[tid] = ray.get(ref)
                except Exception as err:  # noqa: BLE001 - RayTaskError, WorkerCrashedError, ...
                    self._retry(todo, tid, attempt, retries, type(err).__name__, str(err))
            now = time.monotonic()
            for ref, (tid, attempt, deadline) in list(running.items()):
                if now > deadline:
                    ray.cancel(ref, force=True)
                    del running[ref]
                    self._retry(todo, tid, attempt, retries, "timeout", "")
        return [results[i] for i in range(len(tasks))]

    _retry = LocalExecutor._retry

    def close(self) -> None:
        """Leave Ray running (it may be shared); call ``ray.shutdown()`` yourself to stop a local instance."""


def make_executor(kind: str = "local", workers: int = 0, ray_address: str | None = None) -> Executor:
    """``local`` (default) or ``ray``; a Ray address implies ``ray``."""
    if kind == "ray" or ray_address:
        return RayExecutor(ray_address, workers)
    if kind == "local":
        return LocalExecutor(workers)
    raise ValueError(f"executor: unknown kind {kind!r}; expected 'local' or 'ray'")
