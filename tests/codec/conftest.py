import pytest

from mlic.models.registry import TINY_CONFIG

from ..helpers import tiny_model


@pytest.fixture(scope="session")
def model():
    m = tiny_model(TINY_CONFIG, scale_latents=10.0)
    m.name = "test-tiny"
    return m
