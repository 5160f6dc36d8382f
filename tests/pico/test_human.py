"""The human path: export queries, label at the keyboard, ingest the CSV, train a PICO round on it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dgmlab.pico.core import PICO, PICOConfig
from dgmlab.pico.human import ascii_image, export_queries, label_terminal, read_labels, train_on_labels

_spec = importlib.util.spec_from_file_location("pico_toy", Path(__file__).with_name("toy.py"))
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)


def _render(z: np.ndarray) -> np.ndarray:
    return np.clip(z[:, :, None] * np.ones((1, 1, 2)) / 4 + 0.5, 0, 1)  # (M, 4, 2) "images"


def test_keyboard_labels_train_pico_like_the_simulated_user(tmp_path):
    domain = toy.toy_domain(n=300)
    queries, labels = tmp_path / "q.npz", tmp_path / "labels.csv"
    n_queries = export_queries(domain, _render, None, 0.25, 3, queries)
    assert n_queries == 4 * 300
    with np.load(queries) as q:
        images = q["images"]
    # a "person" who reads block 0 off the image (the first pixel) and answers at the keyboard, in two sittings
    shown: list[str] = []
    answers = iter([])

    def read(prompt: str) -> str:
        return next(answers)

    def keys(limit):
        for i, text in enumerate(_by_image(images, shown)):
            if i == limit:
                yield "q"
                return
            yield text

    answers = keys(500)
    assert label_terminal(queries, labels, read, shown.append) == 500
    answers = keys(10**9)
    assert label_terminal(queries, labels, read, shown.append) == n_queries - 500
    actions = read_labels(labels, n_queries, 2)
    assert np.array_equal(actions, (images[:, 0, 0] > 0.5).astype(int))
    model = PICO.for_domain(domain, PICOConfig(budget=0.25))
    train_on_labels(model, queries, labels)
    assert model.masks(domain.features, np.random.default_rng(0))[:, 0].mean() > 0.9


def _by_image(images, shown):
    """Answers for whatever image was shown last: 1 if its first pixel is bright (block 0 > 0)."""
    while True:
        art = shown[-1].splitlines()
        yield "1" if art[0][0] in "+*#%@" else "0"  # levels 5..9 of the ramp: value > 0.5


@pytest.mark.parametrize("text,match", [
    ("id,label\n0,1\n", "header"),
    ("query_id,action\n0,x\n", "integers"),
    ("query_id,action\n0,5\n", "outside 0..1"),
    ("query_id,action\n9,1\n", "outside 0..2"),
    ("query_id,action\n0,1\n0,0\n", "twice"),
    ("query_id,action\n0,1\n", "no label"),
])
def test_bad_label_files_are_clear_errors(tmp_path, text, match):
    (tmp_path / "l.csv").write_text(text)
    with pytest.raises(ValueError, match=match):
        read_labels(tmp_path / "l.csv", 3, 2)


def test_ascii_image_uses_the_ramp():
    assert ascii_image(np.array([[0.0, 1.0]])) == "  @@"
