"""reproduction/single_conv_study.py's 2015 loader order, on a small made-up data set."""

import importlib.util
import os

import numpy as np

import mnist_data

HERE = os.path.dirname(os.path.abspath(__file__))


def load_study():
    path = os.path.join(HERE, '..', 'reproduction', 'single_conv_study.py')
    spec = importlib.util.spec_from_file_location('single_conv_study', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def numbered(n):
    """A DataSet whose image k has every pixel k/255 and label k % 10."""
    images = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None], 28 * 28, 1)
    return mnist_data.DataSet(images.reshape(n, 28, 28, 1), np.arange(n) % 10, seed=0)


def first_pixels(batch):
    return list(np.rint(batch[0][:, 0] * 255).astype(int))


def test_the_2015_loader_keeps_file_order_then_shuffles_with_numpys_global_state():
    study = load_study()
    ds = numbered(20)
    next_batch = study.Loader2015(ds)
    np.random.seed(4)
    assert [first_pixels(next_batch(5)) for _ in range(4)] == [
        list(range(k, k + 5)) for k in range(0, 20, 5)]
    second = sum((first_pixels(next_batch(5)) for _ in range(4)), [])
    order = np.arange(20)
    np.random.seed(4)
    np.random.shuffle(order)
    assert second == list(order)


def test_the_summary_of_one_seed_has_no_spread():
    assert load_study().summary([0.97]) == '0.9700 | - | 0.9700-0.9700'
