import numpy as np
import pytest

from scalelab.data.loader import TokenData, TrainLoader
from scalelab.data.prepare import prepare
from scalelab.data.spec import spec_from_dict
from scalelab.errors import InputError


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("loader") / "d"
    spec = spec_from_dict(
        {
            "sources": [
                {"kind": "synthetic", "n_docs": 150},
                {"kind": "wiki", "role": "eval", "max_docs": 200},
            ],
            "tokenizer": {"kind": "bpe", "vocab_size": 300},
        }
    )
    prepare(spec, out)
    return TokenData.open(out)


def test_interface(data):
    assert data.vocab_size == 300 and data.eot_id == 0
    assert len(data.tokenizer_hash) == 64 and len(data.data_hash) == 64
    assert data.eval_splits == ["validation", "test", "wiki"]
    assert "tokenizer" in data.checklist
    assert data.tokenizer().hash == data.tokenizer_hash
    d = data.describe()
    assert d["vocab_size"] == 300 and d["split_tokens"]["train"] == len(data.tokens("train"))


def test_batches_are_windows_of_the_train_split(data):
    loader = data.train_loader(batch_size=8, context=32, seed=1)
    x = loader.batch(5)
    assert x.shape == (8, 33) and x.dtype == np.int64
    train = np.asarray(data.tokens("train"))
    for row, w in zip(x, loader.window_ids(5)):
        assert np.array_equal(row, train[w * 32 : w * 32 + 33])


def test_deterministic_and_resumable(data):
    a = data.train_loader(4, 16, seed=7)
    b = data.train_loader(4, 16, seed=7)
    full = [x for _, x in a.iter(0, 30)]
    resumed = [x for _, x in b.iter(17, 30)]  # a fresh loader resuming at step 17
    for x, y in zip(full[17:], resumed):
        assert np.array_equal(x, y)
    c = data.train_loader(4, 16, seed=8)
    assert not np.array_equal(a.batch(0), c.batch(0))


def test_each_epoch_visits_every_window_once(data):
    loader = data.train_loader(batch_size=5, context=64, seed=0)
    n = loader.n_sub
    steps = (2 * n) // 5 + 1
    ids = np.concatenate([loader.window_ids(s) for s in range(steps)])
    assert sorted(ids[:n]) == list(range(n))  # epoch 0: a permutation of all windows
    assert sorted(ids[n : 2 * n]) == list(range(n))  # epoch 1: again, in another order
    assert not np.array_equal(ids[:n], ids[n : 2 * n])
    assert loader.epoch(n // 5) == pytest.approx((n // 5) * 5 / n)


def test_unique_token_budget_repeats_a_nested_subset(data):
    small = data.train_loader(4, 32, seed=3, unique_tokens=320)  # 10 windows
    big = data.train_loader(4, 32, seed=3, unique_tokens=640)  # 20 windows
    assert small.unique_tokens == 320 and small.n_sub == 10
    ids = np.concatenate([small.window_ids(s) for s in range(25)])  # 10 epochs
    assert set(ids.tolist()) == set(small._subset.tolist()) and len(set(ids.tolist())) == 10
    assert set(small._subset.tolist()) <= set(big._subset.tolist())  # smaller budgets nest
    assert small.epoch(25) == pytest.approx(10.0)
    assert small.steps_for(32 * 4 * 10) == 10
    with pytest.raises(InputError, match="exceeds the train split"):
        data.train_loader(4, 32, unique_tokens=10**9)


def test_eval_windows_fixed(data):
    w = data.eval_windows("wiki", context=32, max_tokens=1000)
    assert w.shape == ((1000 - 1) // 32, 33)
    assert np.array_equal(w, data.eval_windows("wiki", context=32, max_tokens=1000))
    v = np.asarray(data.eval_tokens("validation"))
    wv = data.eval_windows("validation", context=32)
    assert np.array_equal(wv[1], v[32:65])
    with pytest.raises(InputError, match="no split 'nope'"):
        data.tokens("nope")


def test_loader_needs_enough_tokens():
    with pytest.raises(InputError, match="fewer than one window"):
        TrainLoader(np.zeros(10, dtype=np.uint16), 2, 16)


def test_effective_tokens_muennighoff():
    from math import exp

    from scalelab.data.loader import effective_tokens

    assert effective_tokens(500, 1000) == 500  # no repetition yet
    assert effective_tokens(1000, 1000) == 1000
    # 4 epochs: R = 3 repetitions
    assert effective_tokens(4000, 1000) == pytest.approx(1000 + 1000 * 15.4 * (1 - exp(-3 / 15.4)))
    assert effective_tokens(4000, 1000) < 4000
    # many epochs saturate at U (1 + R*)
    assert effective_tokens(1e9, 1000) == pytest.approx(1000 * 16.4, rel=1e-6)
