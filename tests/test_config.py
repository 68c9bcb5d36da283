"""levrf.config: named memory budgets read by every chunking site.

A smaller budget must give really smaller chunks (counted at the site) and the same results up
to the rounding of regrouped sums; the defaults are the constants levrf used before.
"""

import threading

import numpy as np
import pytest
import torch

import levrf
from levrf.config import DEFAULTS, get_budget
from levrf.leverage.approximate import NystromLeverage, pool_gram_leverage
from levrf.leverage.scores import ExactLeverage, weight_chunk

EPS = torch.finfo(torch.float64).eps


def test_defaults_are_the_former_constants():
    assert DEFAULTS == {
        "chunk_bytes": 128 * 2**20,  # features.DEFAULT_CHUNK_BYTES
        "leverage_chunk_bytes": 64 * 2**20,  # leverage.scores.CHUNK_BYTES
        "leverage_row_chunk": 4096,  # leverage.approximate.ROW_CHUNK
        "leverage_exact_bytes": 32 * 2**20,  # new: the n x n budget of leverage_method="auto"
        "pair_block_elements": 2**22,  # kernels.base._PAIR_BLOCK
        "train_block_bytes": 4 * 2**20,  # nn.train._TwoLayerEngine.BLOCK_BYTES
        "cg_cache_bytes": 2**30,  # new: the base-feature cache of solver="cg"
    }
    assert levrf.get_config() == DEFAULTS
    assert weight_chunk(100, 3, None) == 64 * 2**20 // (8 * 100 * 3)


def test_config_context_sets_and_restores_even_on_error():
    with levrf.config_context(chunk_bytes=1000) as inside:
        assert inside["chunk_bytes"] == 1000 == get_budget("chunk_bytes")
        with levrf.config_context(leverage_row_chunk=7):
            assert get_budget("chunk_bytes") == 1000 and get_budget("leverage_row_chunk") == 7
        assert get_budget("leverage_row_chunk") == 4096
    assert levrf.get_config() == DEFAULTS
    with pytest.raises(RuntimeError, match="boom"), levrf.config_context(leverage_chunk_bytes=10):
        raise RuntimeError("boom")
    assert levrf.get_config() == DEFAULTS


def test_set_config_is_per_thread_and_none_keeps_a_setting():
    seen = {}

    def worker():
        levrf.set_config(chunk_bytes=123)
        levrf.set_config(chunk_bytes=None, train_block_bytes=456)
        seen.update(levrf.get_config())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["chunk_bytes"] == 123 and seen["train_block_bytes"] == 456
    assert levrf.get_config() == DEFAULTS  # this thread's settings did not change


@pytest.mark.parametrize(
    ("settings", "error", "match"),
    [
        ({"chunk_bytes": 0}, ValueError, "chunk_bytes must be >= 1"),
        ({"leverage_row_chunk": 2.5}, TypeError, "leverage_row_chunk must be an integer"),
        ({"pair_block_elements": True}, TypeError, "pair_block_elements must be an integer"),
        ({"chunk_size": 10}, TypeError, "chunk_size"),
    ],
)
def test_invalid_settings_are_refused(settings, error, match):
    with pytest.raises(error, match=match), levrf.config_context(**settings):
        pass
    with pytest.raises(error, match=match):
        levrf.set_config(**settings)
    assert levrf.get_config() == DEFAULTS
    with pytest.raises(ValueError, match="unknown levrf setting 'nope'"):
        get_budget("nope")


@pytest.fixture
def X():
    return torch.randn(300, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_chunk_bytes_splits_the_feature_map_into_smaller_chunks(X):
    rf = levrf.RandomFeatures(levrf.GaussianKernel(1.0), n_features=40, random_state=0).fit(X.numpy())
    assert rf.chunk_size(300, 3) == 300  # the default budget holds every row
    full = torch.as_tensor(rf.transform(X.numpy()))
    # a row costs 8 bytes · 40 weights · (2·d2 + 2) intermediates: room for 16 rows
    with levrf.config_context(chunk_bytes=16 * 8 * 40 * 6):
        step = rf.chunk_size(300, 3)
        chunks = [block.shape[0] for _, block in rf.iter_chunks(X)]
        small = torch.as_tensor(rf.transform(X.numpy()))
    assert step == 16 and chunks == [16] * 18 + [12]
    torch.testing.assert_close(small, full, rtol=0, atol=16 * EPS)


def test_chunk_bytes_keeps_random_feature_ridge_and_kernel_ridge_results(X):
    y = torch.sin(X.sum(1)).numpy()
    rfr = levrf.RandomFeatureRidge(levrf.GaussianKernel(1.0), n_features=30, alpha=0.1, random_state=0)
    krr = levrf.KernelRidge(levrf.GaussianKernel(1.0), alpha=0.1)
    expected = rfr.fit(X.numpy(), y).predict(X.numpy()), krr.fit(X.numpy(), y).predict(X.numpy())
    with levrf.config_context(chunk_bytes=4096):
        assert krr._kernel_rows(300) < 300  # KernelRidge's row blocks shrink too
        got = rfr.fit(X.numpy(), y).predict(X.numpy()), krr.fit(X.numpy(), y).predict(X.numpy())
    # regrouped sums of 300 rows: relative differences of a few hundred eps at most
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=0, atol=1e3 * EPS * max(1.0, float(np.abs(e).max())))


class CountingGaussian(levrf.GaussianKernel):
    """A Gaussian kernel that records the (rows, weights) of every feature evaluation."""

    calls: list = []

    def _features(self, X, W):
        CountingGaussian.calls.append((X.shape[0], W.shape[0]))
        return super()._features(X, W)


def test_leverage_chunk_bytes_scores_in_smaller_weight_chunks(X):
    kernel = CountingGaussian(1.0)
    W = kernel.sample(200, 3, 1).to(torch.float64)
    CountingGaussian.calls.clear()
    tau = ExactLeverage(kernel, X, 0.1)(W)
    assert [m for _, m in CountingGaussian.calls] == [200]
    CountingGaussian.calls.clear()
    with levrf.config_context(leverage_chunk_bytes=8 * 300 * 6 * 25):  # 25 weights of 3·d2 floats per row
        tau_small = ExactLeverage(kernel, X, 0.1)(W)
    assert [m for _, m in CountingGaussian.calls] == [25] * 8
    torch.testing.assert_close(tau_small, tau, rtol=64 * EPS, atol=0)


def test_leverage_row_chunk_streams_smaller_row_blocks(X):
    kernel = CountingGaussian(1.0)
    W = kernel.sample(20, 3, 1).to(torch.float64)
    expected = NystromLeverage(kernel, X, 0.1, rank=40, generator=torch.Generator().manual_seed(2))(W)
    pool = pool_gram_leverage(kernel, X, W, 0.1)
    CountingGaussian.calls.clear()
    with levrf.config_context(leverage_row_chunk=64):
        got = NystromLeverage(kernel, X, 0.1, rank=40, generator=torch.Generator().manual_seed(2))(W)
        got_pool = pool_gram_leverage(kernel, X, W, 0.1)
    rows = {r for r, _ in CountingGaussian.calls}
    assert max(rows) == 64 and 300 % 64 in rows
    scale = float(expected.abs().max())
    torch.testing.assert_close(got, expected, rtol=0, atol=1e4 * EPS * scale)  # Woodbury cancels ~n·r digits
    torch.testing.assert_close(got_pool, pool, rtol=0, atol=1e4 * EPS * float(pool.abs().max()))


def test_pair_block_elements_bounds_the_recomputed_blocks():
    """Cancelled pairs are recomputed pair by pair in gathered blocks: smaller blocks, same K."""
    from levrf.kernels.base import recompute_pairs

    gen = torch.Generator().manual_seed(3)
    X = 1e6 + 1e-3 * torch.randn(60, 4, generator=gen, dtype=torch.float64)
    X[:30] -= 2e6  # two far clusters: the centred expansion cancels inside each one
    kernel = levrf.GaussianKernel(1e-3)
    expected = kernel(X)
    blocks = []

    def squared_distance(a, b):
        blocks.append(a.shape[0])
        return (a - b).square().sum(1)

    out = torch.zeros(60, 60, dtype=torch.float64)
    with levrf.config_context(pair_block_elements=8):
        recompute_pairs(out, torch.ones(60, 60, dtype=torch.bool), X, X, squared_distance)
        small = kernel(X)
    assert max(blocks) == 2 and sum(blocks) == 3600  # 8 elements / d = 4 columns per gathered block
    torch.testing.assert_close(out, ((X[:, None, :] - X[None, :, :]) ** 2).sum(2), rtol=0, atol=0)
    assert float(expected[:30, :30].min()) < 0.9  # the within-cluster values are not trivial
    torch.testing.assert_close(small, expected, rtol=0, atol=0)  # each pair alone: no regrouping


def test_train_block_bytes_gives_the_same_training():
    X = torch.randn(20, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    X /= X.norm(dim=1, keepdim=True)
    y = torch.sin(3 * X[:, 0])

    def run():
        net = levrf.nn.TwoLayerReLU(3, 600, random_state=0)
        return levrf.nn.train_regularized(net, X, y, 0.1, steps=5, lr=0.5, track_kernel=False, quiet=True)

    expected = run()
    with levrf.config_context(train_block_bytes=1):  # the floor: 256 neurons per block, 3 blocks
        got = run()
    torch.testing.assert_close(got.u_train, expected.u_train, rtol=0, atol=1e3 * EPS)
