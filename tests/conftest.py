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


@pytest.fixture
def spanish(monkeypatch, tmp_path):
    """The learner's language set to Spanish for one test (catalogues re-read before and after)."""
    import latentlab.i18n

    monkeypatch.setenv("LATENTLAB_LANG", "es")
    monkeypatch.setenv("COLUMNS", "200")  # argparse wraps help at the terminal's width
    monkeypatch.chdir(tmp_path)
    latentlab.i18n.catalogue.cache_clear()
    yield
    latentlab.i18n.catalogue.cache_clear()


@pytest.fixture
def english(monkeypatch, tmp_path):
    """No language set, in a folder that is not notebooks/es (which would speak Spanish)."""
    import latentlab.i18n

    monkeypatch.delenv("LATENTLAB_LANG", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    latentlab.i18n.catalogue.cache_clear()
    yield
    latentlab.i18n.catalogue.cache_clear()


@pytest.fixture(autouse=True)
def _english_unless_asked(request, monkeypatch):
    """`LATENTLAB_LANG=es ./course test` runs the Spanish edition: test_notebooks.py and test_browser.py read the
    language when they are collected and execute the Spanish notebooks. Every other test asserts the package's
    messages as written (English) and so runs in English, unless it asks for Spanish (the `spanish` fixture)."""
    if os.environ.get("LATENTLAB_LANG") and request.module.__name__.split(".")[-1] not in ("test_notebooks",
                                                                                           "test_browser"):
        import latentlab.i18n

        monkeypatch.setenv("LATENTLAB_LANG", "en")
        latentlab.i18n.catalogue.cache_clear()
