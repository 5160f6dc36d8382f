"""``dgmlab compress`` / ``dgmlab decompress`` on PNGs of odd sizes with a tiny checkpoint; the container; errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from dgmlab.cli import main
from dgmlab.coding.container import read_container, write_container
from dgmlab.flows.model import FlowPlusPlus, named_config


def _save_model(path, seed: int) -> str:
    torch.manual_seed(seed)
    model = FlowPlusPlus(named_config("tiny"))
    model.initialize(torch.randint(0, 256, (8, 3, 8, 8)).float())
    model.save(path)
    return str(path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("compress")
    _save_model(d / "tiny.pt", 0)
    _save_model(d / "other.pt", 1)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (13, 10, 3), dtype=np.uint8)).save(d / "rgb.png")
    Image.fromarray(rng.integers(90, 140, (5, 17), dtype=np.uint8)).save(d / "grey.png")
    Image.fromarray(rng.integers(0, 256, (4, 4, 4), dtype=np.uint8)).save(d / "rgba.png")
    Image.fromarray(rng.integers(0, 60000, (4, 4), dtype=np.uint16)).save(d / "deep.png")
    (d / "text.png").write_text("not an image")
    assert main(["compress", str(d / "rgb.png"), str(d / "grey.png"), "-o", str(d / "x.dgmbb"),
                 "--model", str(d / "tiny.pt"), "--streams", "3", "--batch", "2", "-q"]) == 0
    return d


def test_cli_roundtrip_in_a_fresh_process(workdir, capsys):
    out = workdir / "out"
    args = ["decompress", str(workdir / "x.dgmbb"), "-o", str(out), "--model", str(workdir / "tiny.pt"), "-q"]
    subprocess.run([sys.executable, "-c", f"from dgmlab.cli import main; raise SystemExit(main({args!r}))"],
                   check=True, timeout=300)
    for name in ("rgb.png", "grey.png"):
        a, b = Image.open(workdir / name), Image.open(out / name)
        assert a.mode == b.mode and np.array_equal(np.asarray(a), np.asarray(b))
    header, _ = read_container((workdir / "x.dgmbb").read_bytes())
    assert header["batch"] == 2 and header["streams"] == 3 and header["torch_threads"] == 1
    assert [im["name"] for im in header["images"]] == ["rgb.png", "grey.png"]
    # 7 patches of 8x8 in 4 chained batches: the first draws the auxiliary bits, the others are whitened
    assert header["patches"] == 7 and header["fused_pixel_layers"] is True
    record = header["batches"]
    assert len(record) == 4 and record[0][1] == 0 and all(words > 0 for _, words in record[1:])


def test_default_batch_counts_pixels(workdir):
    from dgmlab.flows.compress import CompressConfig, compress_images, default_batch, load_coding_model

    assert [default_batch(p) for p in (8, 16, 32, 64, 128)] == [64, 16, 4, 1, 1]
    cm = load_coding_model(str(workdir / "tiny.pt"))
    data, _ = compress_images([workdir / "rgb.png"], cm, CompressConfig(streams=3), progress=False)
    header = read_container(data)[0]
    assert header["patch"] == 16 and header["batch"] == default_batch(16)  # 13x10: one 16x16 patch, as much padding


def test_header_records_the_environment(workdir):
    header, _ = read_container((workdir / "x.dgmbb").read_bytes())
    assert header["device"] == "cpu" and header["torch"] == torch.__version__ and "gpu" not in header
    assert len(header["patches_sha256"]) == 64


def test_pixels_that_fail_the_checksum_are_not_returned(workdir, capsys):
    header, payload = read_container((workdir / "x.dgmbb").read_bytes())
    header["patches_sha256"] = "0" * 64
    assert "checksum" in _decompress_error(workdir, capsys, write_container(header, payload))


def test_a_cuda_file_needs_a_cuda_device(workdir, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    header, payload = read_container((workdir / "x.dgmbb").read_bytes())
    header["device"] = "cuda"
    assert "same kind of device" in _decompress_error(workdir, capsys, write_container(header, payload))


@pytest.mark.parametrize(("device", "message"), [("tpu", "expected 'cpu'"), ("cuda", "no CUDA device")])
def test_bad_devices_are_rejected(workdir, capsys, monkeypatch, device, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["compress", str(workdir / "rgb.png"), "-o", str(workdir / "dev.dgmbb"), "--model",
                 str(workdir / "tiny.pt"), "--device", device, "-q"])
    assert code == 2 and message in capsys.readouterr().err
    assert not (workdir / "dev.dgmbb").exists()


@pytest.mark.parametrize("record", [[[0, 0], [0, 1]], [[0, 0], [0, -3], [0, 1], [0, 1]], "many",
                                    [[0, 0], [0, 1.5], [0, 1], [0, 1]], [[0, 0], [0, 10**9], [0, 0], [0, 0]],
                                    [[0, 0], [99, 1], [0, 1], [0, 1]], [0, 0, 0, 0]])
def test_bad_batch_record_is_rejected(workdir, capsys, record):
    header, payload = read_container((workdir / "x.dgmbb").read_bytes())
    header["batches"] = record
    assert "corrupt" in _decompress_error(workdir, capsys, write_container(header, payload))


@pytest.mark.parametrize(("name", "message"), [("rgba.png", "unsupported image mode"),
                                               ("deep.png", "unsupported image mode"),
                                               ("text.png", "unreadable image"),
                                               ("missing.png", "unreadable image")])
def test_bad_images_are_rejected(workdir, capsys, name, message):
    code = main(["compress", str(workdir / name), "-o", str(workdir / "bad.dgmbb"), "--model",
                 str(workdir / "tiny.pt"), "-q"])
    assert code == 2 and message in capsys.readouterr().err


def test_missing_bundled_model_is_a_clear_error(workdir, capsys, monkeypatch):
    from dgmlab.flows import pretrained

    monkeypatch.setattr(pretrained, "ROOT", workdir / "no-such-dir")
    assert main(["compress", str(workdir / "rgb.png"), "-o", str(workdir / "y.dgmbb"), "-q"]) == 2
    assert "missing from this install" in capsys.readouterr().err


def _decompress_error(workdir, capsys, data: bytes, model: str = "tiny.pt") -> str:
    path = workdir / "broken.dgmbb"
    path.write_bytes(data)
    assert main(["decompress", str(path), "-o", str(workdir / "never"), "--model", str(workdir / model),
                 "-q"]) == 2
    assert not (workdir / "never").exists()
    return capsys.readouterr().err


def test_bad_containers_are_rejected(workdir, capsys):
    data = (workdir / "x.dgmbb").read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    assert "checksum" in _decompress_error(workdir, capsys, bytes(flipped))
    assert "truncated" in _decompress_error(workdir, capsys, data[:-7])
    assert "bad magic" in _decompress_error(workdir, capsys, b"\x89PNG\r\n\x1a\n" + data[8:])
    assert "model mismatch" in _decompress_error(workdir, capsys, data, model="other.pt")


def test_container_format():
    blob = write_container({"a": [1, 2], "b": "x"}, b"\x00\x01")
    assert read_container(blob) == ({"a": [1, 2], "b": "x"}, b"\x00\x01")
    newer = bytearray(blob)
    newer[8] = 99
    with pytest.raises(ValueError, match="version"):
        read_container(bytes(newer))
    with pytest.raises(ValueError, match="bad magic"):
        read_container(b"")
    with pytest.raises(ValueError, match="padded"):
        read_container(blob + b"\x00")


def test_retried_batches_decode_exactly(workdir, monkeypatch):
    """With a tail limit of 0 every checked try 'hits the tail': each batch ends on its last, unchecked try."""
    from dgmlab.coding import local_bitsback
    from dgmlab.flows.compress import (
        MAX_RETRIES,
        CompressConfig,
        compress_images,
        decompress_bytes,
        load_coding_model,
    )

    cm = load_coding_model(str(workdir / "tiny.pt"))
    monkeypatch.setattr(local_bitsback, "TAIL_LIMIT", 0.0)
    data, _ = compress_images([workdir / "rgb.png"], cm, CompressConfig(streams=3, batch=2, patch=8), progress=False)
    monkeypatch.undo()
    assert [r[0] for r in read_container(data)[0]["batches"]] == [MAX_RETRIES, MAX_RETRIES]
    ((_, img, _),) = decompress_bytes(data, cm, progress=False)
    assert np.array_equal(img, np.asarray(Image.open(workdir / "rgb.png")))


def test_files_without_a_batch_record_still_decode(workdir):
    """Files written before whitening and retries have no ``batches`` field: one batch decodes as before."""
    from dgmlab.flows.compress import CompressConfig, compress_images, decompress_bytes, load_coding_model

    cm = load_coding_model(str(workdir / "tiny.pt"))
    data, _ = compress_images([workdir / "rgb.png"], cm, CompressConfig(streams=3, batch=8), progress=False)
    header, payload = read_container(data)
    assert header.pop("batches") == [[0, 0]]  # one batch, not retried: what an older file holds
    ((_, img, _),) = decompress_bytes(write_container(header, payload), cm, progress=False)
    assert np.array_equal(img, np.asarray(Image.open(workdir / "rgb.png")))


def test_patch_size_is_chosen_from_the_images(workdir):
    """A size-independent model codes a 16x16 image whole, and explicit or recorded patch sizes are checked."""
    from dgmlab.flows.compress import check_patch, choose_patch

    cfg = named_config("tiny")  # trained at 8x8, one squeeze: sides must be multiples of 4
    assert choose_patch(cfg, [(16, 16)]) == 16
    assert choose_patch(cfg, [(64, 64)]) == 64 and choose_patch(cfg, [(128, 128)]) == 64
    assert choose_patch(cfg, [(13, 10), (5, 17)]) == 8  # 16x16 patches would pad more
    assert choose_patch(named_config("small"), [(512, 600)]) == 32  # 64 pads 600 to 640, 32 to 608
    assert choose_patch(named_config("cifar10"), [(64, 64)]) == 32  # per-element actnorm: its own size only
    with pytest.raises(ValueError, match="multiple of 4"):
        check_patch(cfg, 6)
    with pytest.raises(ValueError, match="per-element actnorm"):
        check_patch(named_config("cifar10"), 64)
    with pytest.raises(ValueError, match="patch"):
        check_patch(cfg, 0)


def test_whole_image_patch_roundtrip_in_a_fresh_process(workdir, capsys):
    image = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(image).save(workdir / "square.png")
    assert main(["compress", str(workdir / "square.png"), "-o", str(workdir / "sq.dgmbb"), "--model",
                 str(workdir / "tiny.pt"), "--streams", "3", "-q"]) == 0
    header, _ = read_container((workdir / "sq.dgmbb").read_bytes())
    assert header["patch"] == 16 and header["patches"] == 1
    out = workdir / "sq_out"
    args = ["decompress", str(workdir / "sq.dgmbb"), "-o", str(out), "-q"]
    code = f"from dgmlab.cli import main; raise SystemExit(main({args + ['--model', str(workdir / 'tiny.pt')]!r}))"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    assert np.array_equal(np.asarray(Image.open(out / "square.png")), image)
    assert main(["compress", str(workdir / "square.png"), "-o", str(workdir / "sq8.dgmbb"), "--model",
                 str(workdir / "tiny.pt"), "--streams", "3", "--patch", "8", "-q"]) == 0
    assert read_container((workdir / "sq8.dgmbb").read_bytes())[0]["patches"] == 4
    capsys.readouterr()
    assert main(["compress", str(workdir / "square.png"), "-o", str(workdir / "bad.dgmbb"), "--model",
                 str(workdir / "tiny.pt"), "--patch", "6", "-q"]) == 2
    assert "multiple of 4" in capsys.readouterr().err


def test_a_patch_size_the_model_cannot_code_is_rejected(workdir, capsys):
    header, payload = read_container((workdir / "x.dgmbb").read_bytes())
    header["patch"] = 6
    assert "model mismatch" in _decompress_error(workdir, capsys, write_container(header, payload))
