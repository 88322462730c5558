"""Fuzzing the reader and decoder: the only outcomes allowed are an image or an MlicError."""
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import mlic
from mlic.codec import container as fmt
from mlic.codec import legacy
from mlic.codec.mutate import mutate
from mlic.models import model_fingerprint

from .test_codec import _image


@pytest.fixture(scope="module")
def seeds(model):
    alpha = mlic.encode_image(_image(70, 50, "RGBA"), 5, model, tile_size=64)
    # the same file in the chunked format 2.0, so the old reader is fuzzed too
    legacy_alpha = legacy.to_legacy_bytes(fmt.parse(alpha), model_fingerprint(model), (2, 0))
    return [mlic.encode_image(_image(70, 50), 3, model), alpha, mlic.encode_image(_image(20, 10, "L"), 1, model), legacy_alpha]


def _check(data, model):
    try:
        mlic.read_info(data)
    except mlic.MlicError:
        pass
    try:
        out = mlic.decode_image(data, model, max_pixels=1 << 20)
        assert isinstance(out, Image.Image)
    except mlic.MlicError as exc:
        assert str(exc)


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(which=st.integers(0, 3), seed=st.integers(0, 2**32 - 1), rounds=st.integers(1, 3))
def test_mutated_files_fail_cleanly(seeds, model, which, seed, rounds):
    rng = random.Random(seed)
    data = seeds[which]
    for _ in range(rounds):
        data = mutate(data, rng)
    _check(data, model)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=300))
def test_random_bytes_fail_cleanly(model, blob):
    _check(blob, model)
