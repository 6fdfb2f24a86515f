import numpy as np
import pytest


@pytest.fixture
def one_torch_thread():
    """Many small torch kernels: one thread is much faster than two on a shared 2-core machine."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def rng():
    """The one seeded generator of the tests (a fresh one per test)."""
    return np.random.default_rng(20221)
