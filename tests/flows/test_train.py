"""Training: exact resume from a checkpoint, and a tiny end-to-end train / eval / sample run of the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from dgmlab.cli import main
from dgmlab.flows.train import TrainConfig, Trainer


@pytest.fixture()
def image_dir(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        base = rng.integers(0, 256, (1, 1, 3))
        noise = rng.integers(-20, 21, (20, 24, 3))
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(folder / f"im{i}.png")
    return folder


def _cfg(image_dir, **kw) -> TrainConfig:
    fields = {
        "data": f"folder:{image_dir}",
        "heldout": f"folder:{image_dir}",
        "model": "tiny",
        "steps": 3,
        "batch_size": 4,
        "warmup": 2,
        "eval_every": 2,
        "eval_images": 2,
        "checkpoint_every": 1000,
        "init_batch": 8,
    }
    return TrainConfig(**{**fields, **kw})


def test_resume_gives_identical_next_step_loss(tmp_path, image_dir) -> None:
    straight = Trainer(_cfg(image_dir), tmp_path / "a")
    losses = [straight.train_step()[0] for _ in range(3)]
    first = Trainer(_cfg(image_dir), tmp_path / "b")
    first.train_step(), first.train_step()
    first.save_checkpoint()
    resumed = Trainer(_cfg(image_dir), tmp_path / "b")
    assert resumed.load_checkpoint() and resumed.step == 2
    assert resumed.train_step()[0] == losses[2]


def test_a_different_run_in_the_same_folder_is_refused(tmp_path, image_dir) -> None:
    Trainer(_cfg(image_dir), tmp_path / "run")
    with pytest.raises(ValueError, match="different run"):
        Trainer(_cfg(image_dir, lr=0.5), tmp_path / "run")


def test_a_run_from_before_a_new_field_existed_resumes_with_its_default(tmp_path, image_dir) -> None:
    Trainer(_cfg(image_dir), tmp_path / "run")
    path = tmp_path / "run" / "config.json"
    old = json.loads(path.read_text())
    del old["train"]["crop_weighting"]  # as written before the field was added
    path.write_text(json.dumps(old))
    Trainer(_cfg(image_dir), tmp_path / "run")
    with pytest.raises(ValueError, match="different run"):
        Trainer(_cfg(image_dir, crop_weighting="image"), tmp_path / "run")


def test_cli_train_eval_sample(tmp_path, image_dir, capsys) -> None:
    run = tmp_path / "run"
    common = [
        "flows",
        "train",
        "--out",
        str(run),
        "--data",
        f"folder:{image_dir}",
        "--heldout",
        f"folder:{image_dir}",
        "--model",
        "tiny",
        "--batch-size",
        "4",
        "--warmup",
        "2",
        "--eval-every",
        "2",
        "--eval-images",
        "2",
        "--checkpoint-every",
        "2",
        "--set",
        "image_size=8",
    ]
    assert main([*common, "--steps", "2"]) == 0
    assert main([*common, "--steps", "3"]) == 0  # resumes from step 2
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    for name in ("checkpoint.pt", "model.pt", "model.json", "samples.png", "loss.png", "config.json"):
        assert (run / name).is_file(), name
    out = tmp_path / "eval.json"
    assert (
        main(
            [
                "flows",
                "eval",
                str(run / "model.pt"),
                "--data",
                f"folder:{image_dir}",
                "--importance-samples",
                "2",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["images"] == 3 and result["dims"] == 3 * 20 * 24 * 3
    assert result["bpd_iw"] <= result["bpd_elbo"] + 1e-6
    grid = tmp_path / "s.png"
    assert main(["flows", "sample", str(run / "model.pt"), "-o", str(grid), "-n", "4"]) == 0
    with Image.open(grid) as im:
        assert im.size[0] > 16


def test_init_from_a_saved_model_at_another_crop_size(tmp_path, image_dir) -> None:
    base = Trainer(_cfg(image_dir), tmp_path / "base")
    base.train_step()
    base.save_checkpoint()
    tuned = Trainer(
        _cfg(image_dir, init_from=str(tmp_path / "base" / "model.pt"), overrides={"image_size": 16}),
        tmp_path / "tuned",
    )
    tuned.train_step()
    assert tuned.model_cfg.image_size == 16
    before = base.model.state_dict()["flow.2.weight"]  # the first 1x1 convolution: Adam moved it one step
    assert (tuned.model.state_dict()["flow.2.weight"] - before).abs().max() < 0.01
    with pytest.raises(ValueError, match=r"differs from this run's in \['filters'\]"):
        Trainer(
            _cfg(image_dir, init_from=str(tmp_path / "base" / "model.pt"), overrides={"filters": 4}),
            tmp_path / "bad",
        ).train_step()


def test_validation_split_best_weights_and_exact_resume_with_augmentation(tmp_path, image_dir) -> None:
    kw = {"val": "strip:0.3", "val_images": 6, "augment": "flip-rot", "eval_every": 1}
    straight = Trainer(_cfg(image_dir, **kw), tmp_path / "a")
    assert straight.val.shape == (6, 8, 8, 3) and [im.shape[0] for im in straight.train_images] == [12] * 3
    losses = [straight.train_step()[0] for _ in range(3)]
    first = Trainer(_cfg(image_dir, **kw), tmp_path / "b")
    first.train_step()
    first.validate()
    first.train_step()
    first.save_checkpoint()
    resumed = Trainer(_cfg(image_dir, **kw), tmp_path / "b")
    assert resumed.load_checkpoint() and (resumed.best_val, resumed.best_step) == (first.best_val, 1)
    assert resumed.train_step()[0] == losses[2]
    best = json.loads((tmp_path / "b" / "best.json").read_text())
    assert best["step"] == 1 and best["val_bpd"] == first.best_val and best["val"] == "strip:0.3"


def test_patience_stops_a_stalled_run_and_keeps_the_best(tmp_path, image_dir) -> None:
    # lr 0: the weights never change, so the second validation is no better than the first and the run stops
    run = Trainer(_cfg(image_dir, val="strip:0.3", eval_every=1, patience=1, steps=10, lr=0.0), tmp_path / "r")
    run.run(progress=False)
    rows = (tmp_path / "r" / "metrics.csv").read_text().splitlines()
    assert rows[0] == "step,train_bpd,val_bpd,heldout_bpd,lr,grad_norm,seconds"
    assert run.step == 2 and len(rows) == 3 and rows[1].split(",")[2] == rows[2].split(",")[2]
    assert json.loads((tmp_path / "r" / "best.json").read_text())["step"] == 1
    again = Trainer(_cfg(image_dir, val="strip:0.3", eval_every=1, patience=1, steps=10, lr=0.0), tmp_path / "r")
    again.run(progress=False)  # re-running a stopped run resumes into the same stop
    assert again.step == 2


def test_bad_augment_name_is_rejected(tmp_path, image_dir) -> None:
    with pytest.raises(ValueError, match="augment must be one of"):
        Trainer(_cfg(image_dir, augment="mirror"), tmp_path / "x")
    with pytest.raises(ValueError, match="crop_weighting must be one of"):
        Trainer(_cfg(image_dir, crop_weighting="pixel"), tmp_path / "y")
