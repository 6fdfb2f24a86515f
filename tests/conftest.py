import numpy as np
import pytest

from pipeline.alm import n_alm


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
    return np.random.default_rng(20221)


def random_alm(rng: np.random.Generator, L: int, spectrum=None) -> np.ndarray:
    """Complex-layout coefficients of a real, bandlimit-L Gaussian random field (white by default)."""
    a = (rng.standard_normal(n_alm(L)) + 1j * rng.standard_normal(n_alm(L))) / np.sqrt(2)
    a[:L] = np.sqrt(2) * a[:L].real  # m = 0 coefficients are real
    if spectrum is not None:
        from pipeline.alm import l_of_index

        a *= np.sqrt(spectrum[l_of_index(L)])
    return a


def relative_error(actual, expected) -> float:
    """The one tolerance measure used across tests: ||actual - expected|| / ||expected||."""
    return float(np.linalg.norm(np.asarray(actual) - np.asarray(expected)) / np.linalg.norm(expected))
