"""The fused SGD on memory-mapped data with the block shuffle: as each window begins, its
rows are read in file order and the next window's are asked for (read-ahead), with the
results of the same fit in memory, on any thread count."""

import numpy as np
import pytest

import fastbatch as fb
from fastbatch.linear_model import training


def _mapped(tmp_path, n=6000, d=7, dtype=np.float64, weights=False):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = X.astype(np.float64) @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    arrays = {"X": X, "y": y}
    if weights:
        arrays["w"] = rng.uniform(0.5, 2.0, n)
    out = {}
    for name, a in arrays.items():
        np.save(tmp_path / f"{name}.npy", a)
        out[name] = np.load(tmp_path / f"{name}.npy", mmap_mode="r")
    return out, arrays


def _spy(monkeypatch):
    calls = []
    real = training.WindowReadAhead.__call__

    def spy(self, w):
        calls.append((w, self.order.n_windows))
        return real(self, w)
    monkeypatch.setattr(training.WindowReadAhead, "__call__", spy)
    return calls


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("weights", [False, True])
def test_a_block_fit_on_memory_maps_reads_each_window_ahead_and_fits_as_in_memory(
        tmp_path, monkeypatch, threads, weights):
    mapped, memory = _mapped(tmp_path, weights=weights)
    kwargs = dict(batch_size=64, learning_rate=0.05, epochs=3, random_state=4,
                  shuffle_method="block", block_size=250, shuffle_window=4)
    with fb.set_num_threads(1):
        reference = fb.MiniBatchSGDRegressor(**kwargs).fit(
            memory["X"], memory["y"], sample_weight=memory.get("w"))
    calls = _spy(monkeypatch)
    with fb.set_num_threads(threads):
        est = fb.MiniBatchSGDRegressor(**kwargs).fit(mapped["X"], mapped["y"],
                                                     sample_weight=mapped.get("w"))
    np.testing.assert_array_equal(est.coef_, reference.coef_)
    assert est.intercept_ == reference.intercept_
    np.testing.assert_array_equal(est.loss_history_, reference.loss_history_)
    # 6000 rows in blocks of 250, 4 blocks a window: 6 windows, every one announced in
    # order in every epoch, window 0 before the epoch's first read.
    n_windows = calls[0][1]
    assert n_windows == 6
    per_epoch = [w for w, _ in calls]
    assert per_epoch == list(range(n_windows)) * 3


def test_a_fit_in_memory_or_without_the_block_shuffle_reads_nothing_ahead(tmp_path,
                                                                          monkeypatch):
    mapped, memory = _mapped(tmp_path)
    calls = _spy(monkeypatch)
    fb.MiniBatchSGDRegressor(epochs=2, shuffle_method="block", block_size=100).fit(
        memory["X"], memory["y"])
    fb.MiniBatchSGDRegressor(epochs=2, shuffle_method="exact").fit(mapped["X"], mapped["y"])
    assert calls == []


def test_read_ahead_maps_held_out_positions_to_rows(tmp_path, monkeypatch):
    # early_stopping holds rows out: the windows' positions name training rows, and the
    # pages asked for span those rows (from the first to the last).
    mapped, memory = _mapped(tmp_path)
    kwargs = dict(batch_size=32, epochs=2, random_state=1, shuffle_method="block",
                  block_size=200, shuffle_window=3, early_stopping=True,
                  validation_fraction=0.25, n_iter_no_change=100)
    calls = _spy(monkeypatch)
    est = fb.MiniBatchSGDRegressor(**kwargs).fit(mapped["X"], mapped["y"])
    ref = fb.MiniBatchSGDRegressor(**kwargs).fit(memory["X"], memory["y"])
    np.testing.assert_array_equal(est.coef_, ref.coef_)
    assert [w for w, _ in calls] == list(range(calls[0][1])) * 2
    held = training.Split.__new__(training.Split)
    held.train = np.array([1, 2, 5, 9, 11, 20])
    assert held.rows_of(np.array([[0, 2], [2, 6]])).tolist() == [[1, 3], [5, 21]]
    held.train = None
    assert held.rows_of(np.array([[0, 10]])).tolist() == [[0, 10]]


def test_a_read_ahead_that_fails_costs_nothing_but_speed(tmp_path, monkeypatch):
    mapped, memory = _mapped(tmp_path)
    kwargs = dict(batch_size=64, epochs=2, random_state=2, shuffle_method="block",
                  block_size=300, shuffle_window=2)

    def broken(self, w):
        raise OSError("no read-ahead here")
    reference = fb.MiniBatchSGDRegressor(**kwargs).fit(memory["X"], memory["y"])
    monkeypatch.setattr(training.WindowReadAhead, "__call__", broken)
    with pytest.warns(RuntimeWarning, match="no read-ahead here") as shown:
        est = fb.MiniBatchSGDRegressor(**kwargs).fit(mapped["X"], mapped["y"])
    np.testing.assert_array_equal(est.coef_, reference.coef_)
    assert len(shown) == 2                  # once per epoch, not once per window


def test_ctrl_c_during_a_read_ahead_stops_the_fit(tmp_path, monkeypatch):
    mapped, _ = _mapped(tmp_path)
    seen = []

    def interrupted(self, w):
        seen.append(w)
        if w == 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(training.WindowReadAhead, "__call__", interrupted)
    est = fb.MiniBatchSGDRegressor(epochs=3, shuffle_method="block", block_size=300,
                                   shuffle_window=2)
    with pytest.raises(KeyboardInterrupt):
        est.fit(mapped["X"], mapped["y"])
    assert seen == [0, 1, 2]
    assert not hasattr(est, "coef_")
