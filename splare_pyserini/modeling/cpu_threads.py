"""One text, one thread: CPU parallelism that cannot change a vector.

A bf16 matmul's rounding depends on how oneDNN splits its work across torch's intra-op threads:
on an AMX-BF16 Xeon, 22 of 24 Medline documents got other vectors with ``OMP_NUM_THREADS=1`` than
with 2, so the same text gave other bits in a one-thread torchrun rank than in a two-thread process.
Encoding therefore runs every kernel on its calling thread alone (:func:`single_threaded_kernels`)
and gets its parallelism from several texts at once instead (:func:`map_in_threads`; torch
releases the GIL inside its kernels). For this small backbone that is also faster: 15.2 instead
of 11.0 Medline documents/s on 2 cores (measured with the shipped default, 48 documents).
"""
from __future__ import annotations

import collections
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


@contextmanager
def single_threaded_kernels() -> Iterator[None]:
    """torch's CPU kernels use one thread (the caller's) inside the block; the caller's thread
    count comes back after it. OpenMP keeps the count per thread, so concurrent blocks in other
    threads do not undo each other."""
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def map_in_threads(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` threads, results in input order, each ``fn`` call inside
    :func:`single_threaded_kernels` and under the caller's grad and inference modes (torch keeps
    both per thread). ``items`` is consumed in the calling thread and at most ``2 * workers`` items
    are in flight, so a long iterable is never held whole."""
    grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    def call(item: T) -> R:
        with single_threaded_kernels(), torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return fn(item)

    if workers <= 1:
        yield from map(call, items)
        return
    with single_threaded_kernels(), ThreadPoolExecutor(workers, thread_name_prefix="splare-encode") as pool:
        pending: collections.deque = collections.deque()
        for item in items:
            pending.append(pool.submit(call, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def default_workers(device: torch.device) -> int:
    """Texts encoded at once: torch's intra-op thread count on CPU (``OMP_NUM_THREADS`` or
    ``torch.set_num_threads``, read at call time), one on an accelerator."""
    return torch.get_num_threads() if device.type == "cpu" else 1


def thread_local_list(store: dict[int, list]) -> list:
    """The calling thread's list in ``store`` (a plain dict keyed by thread id: picklable and
    copyable, unlike ``threading.local``)."""
    return store.setdefault(threading.get_ident(), [])
