import os

import pytest
import torch

# Tests run on the CPU with tiny configs, two threads (the course's laptop budget).
os.environ.setdefault("LATENTLAB_DEVICE", "cpu")
os.environ.setdefault("LATENTLAB_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)
