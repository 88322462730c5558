import hashlib

import numpy as np
import pytest
import torch

from mlic.entropy import (
    DecodeError,
    EntropyBottleneck,
    GaussianConditional,
    StreamDecoder,
    StreamEncoder,
    SymbolTables,
    quantize_pmf,
)


def _tables():
    return SymbolTables.from_list(
        [quantize_pmf(np.array([0.1, 0.8, 0.1]), 1e-4), quantize_pmf(np.full(9, 1 / 9), 1e-3), quantize_pmf(np.array([1.0]), 0.0)],
        [-1, -4, 0],
    )


def test_quantize_pmf_gives_positive_frequencies_summing_to_precision():
    f = quantize_pmf(np.array([1e-12, 0.5, 0.5 - 1e-12, 0.0]), 1e-15)
    assert f.sum() == 1 << 16 and f.min() >= 1 and len(f) == 5


@pytest.mark.parametrize("seed", range(3))
def test_any_integer_roundtrips_including_escapes(seed):
    rng = np.random.default_rng(seed)
    tables = _tables()
    chunks = []
    for n in (0, 1, 500, 3000):
        symbols = rng.integers(-6, 7, n)
        if n > 10:
            symbols[:5] = [2**21, -(2**21), 1000, -1000, 0]
        chunks.append((symbols, rng.integers(0, 3, n)))
    enc = StreamEncoder()
    for s, i in chunks:
        enc.encode(s, i, tables)
    data = enc.flush()
    dec = StreamDecoder(data)
    for s, i in chunks:
        assert np.array_equal(dec.decode(i, tables), s)
    assert dec.exhausted()


def test_escape_payload_bounds():
    tables = _tables()
    enc = StreamEncoder()
    enc.encode(np.array([2**40]), np.array([0]), tables)
    with pytest.raises(ValueError, match="too large"):
        enc.flush()


def test_garbage_stream_is_reported_or_inconsistent():
    with pytest.raises(DecodeError):
        StreamDecoder(b"abc")


def test_gaussian_tables_are_deterministic_and_pinned():
    """The y tables are part of the format: a change here breaks every existing file."""
    gc = GaussianConditional()
    gc.update()
    t = gc.tables()
    assert t.freqs.shape == (64, 3132)
    assert (t.lengths - 2 == -2 * t.offsets).all()
    digest = hashlib.sha256(t.freqs.tobytes() + t.lengths.tobytes() + t.offsets.tobytes()).hexdigest()
    assert digest == GAUSSIAN_TABLES_SHA256


GAUSSIAN_TABLES_SHA256 = "2e9972113dfcced4dea7fad3b8561ae5dc061a108384503ceca5e84314887628"


def test_scale_index_rounds_sigma_up():
    gc = GaussianConditional()
    table = gc.scale_table
    s = torch.stack([table[5], table[5] * 1.0001, torch.tensor(0.01), torch.tensor(-3.0), torch.tensor(1e4)])
    assert gc.build_indexes(s).tolist() == [5, 6, 0, 0, 63]


def test_aux_loss_reaches_only_quantiles():
    eb = EntropyBottleneck(8)
    eb.aux_loss().backward()
    grads = {n: p.grad for n, p in eb.named_parameters()}
    assert grads["quantiles"] is not None and grads["quantiles"].abs().sum() > 0
    assert all(g is None for n, g in grads.items() if n != "quantiles")


def test_factorized_tables_follow_quantiles():
    eb = EntropyBottleneck(4)
    eb.update()
    t = eb.tables()
    assert (t.offsets == -10).all() and (t.lengths == 22).all()
    assert (t.freqs[:, :22].sum(1) == 1 << 16).all()


def test_tables_survive_state_dict_roundtrip():
    a = GaussianConditional()
    a.update()
    b = GaussianConditional()
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a.tables().freqs, b.tables().freqs)
