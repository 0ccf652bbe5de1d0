"""cpu_threads: texts in parallel, each kernel on one thread, the caller's settings kept."""
import threading
import time

import pytest
import torch

from splare_pyserini.modeling.cpu_threads import map_in_threads, single_threaded_kernels


@pytest.fixture
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def test_results_in_input_order_on_several_threads_each_with_one_kernel_thread(two_threads):
    seen = []

    def work(i):
        time.sleep(0.01 * (i % 3))  # finish out of order
        seen.append((threading.get_ident(), torch.get_num_threads()))
        return i * i

    assert list(map_in_threads(work, range(20), workers=2)) == [i * i for i in range(20)]
    assert len({ident for ident, _ in seen}) == 2 and {n for _, n in seen} == {1}
    assert torch.get_num_threads() == 2  # the caller's count is back


def test_a_long_iterable_is_consumed_as_results_are_taken(two_threads):
    consumed = []

    def items():
        for i in range(100):
            consumed.append(i)
            yield i

    results = map_in_threads(lambda i: i, items(), workers=2)
    assert next(results) == 0 and len(consumed) <= 5  # 2 * workers in flight, then the first result
    assert list(results) == list(range(1, 100))


def test_grad_and_inference_modes_follow_the_caller(two_threads):
    x = torch.ones(3, requires_grad=True)
    with torch.inference_mode():
        assert all(map_in_threads(lambda _: torch.is_inference_mode_enabled(), range(4), workers=2))
    with torch.no_grad():
        assert not any(map_in_threads(lambda _: torch.is_grad_enabled(), range(4), workers=2))
    (total,) = list(map_in_threads(lambda v: (v * 2).sum(), [x], workers=2))
    total.backward()  # the graph recorded on a worker thread trains like any other
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_an_error_in_a_worker_reaches_the_caller_and_the_thread_count_comes_back(two_threads):
    def work(i):
        if i == 3:
            raise ValueError("text 3 is bad")
        return i

    with pytest.raises(ValueError, match="text 3 is bad"):
        list(map_in_threads(work, range(10), workers=2))
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError):
        with single_threaded_kernels():
            assert torch.get_num_threads() == 1
            raise RuntimeError
    assert torch.get_num_threads() == 2
