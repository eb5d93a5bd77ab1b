"""Tests of the `urisc` Python module (crates/urisc-py), run by python/ci.sh.

Comparisons with the command line need the `urisc` binary: $URISC_BIN, the newest of
target/{release,debug}/urisc in the repository, or `urisc` on PATH; they are skipped without one. Every other test
checks numbers against data/fixtures/*/expected.json or against the module itself.
"""

import json
import math
import os
import shutil
import subprocess
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import urisc

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
SLICE = DATA / "isbi2012" / "images" / "16.png"
LABEL = DATA / "isbi2012" / "labels" / "16.png"
METRICS = ["f1", "precision", "recall", "iou", "dice", "phd", "vrand", "vinfo", "are",
           "voi_split", "voi_merge"]


def cli():
    """The urisc binary, or None."""
    targets = [ROOT / "target"]
    if os.environ.get("CARGO_TARGET_DIR"):
        targets.insert(0, Path(os.environ["CARGO_TARGET_DIR"]))
    def usable(c):
        return c and Path(c).is_file() and os.access(c, os.X_OK)

    if usable(os.environ.get("URISC_BIN")):
        return os.environ["URISC_BIN"]
    # The newest build of this checkout (a stale release binary must not shadow the debug
    # binary `cargo test` just built), else `urisc` on PATH.
    built = [t / profile / "urisc" for t in targets for profile in ("release", "debug")]
    built = [c for c in built if usable(c)]
    if built:
        return str(max(built, key=lambda c: c.stat().st_mtime))
    return shutil.which("urisc")


needs_cli = pytest.mark.skipif(cli() is None, reason="no urisc binary (set URISC_BIN)")


def cli_error(*args):
    """The one-line message `urisc ARGS` fails with (after 'urisc: error: ')."""
    r = subprocess.run([cli(), *args], capture_output=True, text=True)
    assert r.returncode != 0, r
    line = [l for l in r.stderr.splitlines() if l.startswith("urisc: error: ")][-1]
    return line[len("urisc: error: "):]


@pytest.fixture(scope="module")
def model():
    return urisc.load_model()


@pytest.fixture(scope="module")
def slice16():
    return urisc.read_image(SLICE)


# ---------------------------------------------------------------------------------------------
# Reading and the model.

def test_read_image_keeps_shape_and_type(slice16):
    assert slice16.dtype == np.uint8 and slice16.shape == (512, 512)
    label = urisc.read_image(LABEL)
    assert set(np.unique(label)) <= {0, 255}


def test_model_metadata(model):
    assert 0 < model.threshold < 1
    assert model.tile_size == model.info["tile_size"]
    assert model.pixel_size_nm == 4.0
    assert model.info["threshold"] == pytest.approx(model.threshold)
    assert model.size_multiple >= 1


def test_predict_gives_probabilities_of_the_same_shape(model, slice16):
    p = model.predict(slice16)
    assert p.dtype == np.float32 and p.shape == slice16.shape
    assert 0.0 <= p.min() and p.max() <= 1.0
    # A working segmentation of a validation slice, not just numbers in range.
    binary = np.where(p >= model.threshold, 0, 255).astype(np.uint8)
    scores = urisc.evaluate(binary, urisc.read_image(LABEL))
    assert scores["f1"] > 0.75


@needs_cli
def test_predict_matches_the_cli_probability_map(model, slice16, tmp_path):
    subprocess.run([cli(), "predict", str(SLICE), "--out", str(tmp_path / "bin"),
                    "--probabilities", str(tmp_path / "prob")], check=True, capture_output=True)
    stored = urisc.read_image(tmp_path / "prob" / "16.png")  # 255·(1 − p), rounded
    p = model.predict(slice16)
    assert np.abs((255 - stored.astype(np.float64)) / 255 - p).max() <= 1 / 255
    binary = urisc.read_image(tmp_path / "bin" / "16.png")
    ours = np.where(p >= model.threshold, 0, 255)
    assert (ours != binary).mean() < 1e-3


def test_input_types_follow_the_8_bit_conventions(model):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(37, 101), dtype=np.uint8)  # odd, non-square
    p8 = model.predict(img)
    assert p8.shape == (37, 101)
    np.testing.assert_array_equal(model.predict(img.astype(np.uint16) * 257), p8)
    np.testing.assert_array_equal(model.predict(img / 255.0), p8)
    np.testing.assert_array_equal(model.predict((img / 255.0).astype(np.float32)), p8)
    np.testing.assert_array_equal(model.predict(np.asfortranarray(img)), p8)


def test_out_of_range_floats_are_clamped_with_a_warning(model):
    img = np.full((32, 32), 0.5)
    img[0, 0] = 1.5
    with pytest.warns(UserWarning, match="1 floating-point pixel"):
        p = model.predict(img)
    clamped = img.copy()
    clamped[0, 0] = 1.0
    np.testing.assert_array_equal(p, model.predict(clamped))


def test_predict_options(model, slice16):
    p = model.predict(slice16[:200, :300], tta=2, tile=128, overlap=32, batch=2)
    assert p.shape == (200, 300)


def test_predict_resamples_to_the_model_pixel_size(model, slice16):
    """A 2× upsampled slice at 2 nm/pixel is predicted at the model's 4 nm/pixel: its 2×2 blocks
    average back to the slice, so the map is the slice's map upsampled, on the big grid."""
    big = np.repeat(np.repeat(slice16, 2, axis=0), 2, axis=1)
    at_model_scale = model.predict(big, pixel_size_nm=2.0)
    assert at_model_scale.shape == big.shape
    np.testing.assert_array_equal(at_model_scale, model.predict(big, scale=0.5))
    # Same pixel size as the model (within 2 %): no resampling.
    np.testing.assert_array_equal(model.predict(slice16, pixel_size_nm=4.05), model.predict(slice16))
    small = model.predict(slice16).astype(np.float64)
    # Big pixel (2i, 2j) sits at small (i − ¼, j − ¼): bilinear weights 9/16, 3/16, 3/16, 1/16.
    expected = (9 * small[1:, 1:] + 3 * small[:-1, 1:] + 3 * small[1:, :-1] + small[:-1, :-1]) / 16
    np.testing.assert_allclose(at_model_scale[2::2, 2::2], expected, atol=1e-5)
    with pytest.raises(ValueError, match="scale"):
        model.predict(slice16, scale=0.0)


def test_gil_is_released_during_predict(model):
    big = np.tile(urisc.read_image(SLICE), (2, 2))
    count = 0
    done = threading.Event()

    def counter():
        nonlocal count
        while not done.is_set():
            count += 1
            time.sleep(0.0005)

    t = threading.Thread(target=counter)
    t.start()
    time.sleep(0.05)
    before = count
    start = time.perf_counter()
    model.predict(big)
    seconds = time.perf_counter() - start
    during = count - before
    done.set()
    t.join()
    # With the GIL held the counter could not run at all during the call.
    assert seconds > 0.05 and during >= 20, (seconds, during)


# ---------------------------------------------------------------------------------------------
# Evaluation.

def fixture_pairs(kind):
    expected = json.loads((DATA / "fixtures" / kind / "expected.json").read_text())
    for image in expected["images"]:
        name = image["name"]
        yield (name, DATA / "fixtures" / kind / "pred" / f"{name}.png",
               DATA / "fixtures" / kind / "gt" / f"{name}.png", image)


ALL_PAIRS = [(kind, *p) for kind in ("pairs", "grey") for p in fixture_pairs(kind)]


@pytest.mark.parametrize("kind,name,pred,gt,expected", ALL_PAIRS,
                         ids=[f"{k}/{n}" for k, n, *_ in ALL_PAIRS])
def test_evaluate_matches_the_reference_values(kind, name, pred, gt, expected):
    scores = urisc.evaluate(urisc.read_image(pred), urisc.read_image(gt))
    assert sorted(scores) == sorted(METRICS)
    for key in ["f1", "precision", "recall", "iou", "dice"]:
        assert scores[key] == pytest.approx(expected[key], abs=1e-12), key
    for key in ["vrand", "vinfo", "are", "voi_split", "voi_merge"]:
        assert scores[key] == pytest.approx(expected[key], abs=1e-9), key
    for t, v in expected["phd"].items():
        # Skeletonisation variants differ slightly (data/fixtures/README.md).
        assert scores["phd"][t] == pytest.approx(v, rel=1e-2, abs=1e-2), t


@needs_cli
@pytest.mark.parametrize("kind,name,pred,gt,expected", ALL_PAIRS,
                         ids=[f"{k}/{n}" for k, n, *_ in ALL_PAIRS])
def test_evaluate_matches_urisc_eval(kind, name, pred, gt, expected):
    r = subprocess.run([cli(), "eval", "--pred", str(pred), "--gt", str(gt), "--format", "json"],
                       check=True, capture_output=True, text=True)
    reference = json.loads(r.stdout)["images"][0]
    scores = urisc.evaluate(urisc.read_image(pred), urisc.read_image(gt))
    for key in METRICS:
        if key == "phd":
            for t, v in reference["phd"].items():
                assert scores["phd"][t] == pytest.approx(v, abs=1e-12)
        else:
            assert scores[key] == pytest.approx(reference[key], abs=1e-12), key


def test_evaluate_float_maps_are_membrane_dark(model, slice16):
    label = urisc.read_image(LABEL)
    p = model.predict(slice16)
    as_float = urisc.evaluate(1.0 - p, label)
    as_u8 = urisc.evaluate(np.round(255 * (1.0 - p)).astype(np.uint8), label)
    for key in ["f1", "precision", "recall", "iou", "dice", "are", "voi_split", "voi_merge"]:
        assert as_float[key] == as_u8[key]
    assert as_float["vrand"] == pytest.approx(as_u8["vrand"], abs=2e-3)


def test_evaluate_metric_selection_and_protocol():
    _, pred, gt, _ = next(fixture_pairs("pairs"))
    p, g = urisc.read_image(pred), urisc.read_image(gt)
    assert sorted(urisc.evaluate(p, g, metrics="pixel")) == ["dice", "f1", "iou", "precision",
                                                             "recall"]
    assert sorted(urisc.evaluate(p, g, metrics="vrand,phd")) == ["phd", "vrand"]
    with pytest.raises(ValueError, match="background/membrane"):
        urisc.evaluate(p, g, protocol="faithful")  # ISBI maps have ~20 % membrane
    thin = np.full((64, 64), 255, np.uint8)
    thin[::8] = 0
    assert urisc.evaluate(thin, thin, protocol="faithful", metrics="f1") == {"f1": 1.0}


# ---------------------------------------------------------------------------------------------
# Errors.

def test_bad_arrays_raise_value_error(model):
    with pytest.raises(ValueError, match="non-finite"):
        model.predict(np.full((16, 16), np.nan))
    with pytest.raises(ValueError, match="2-D"):
        model.predict(np.zeros((2, 16, 16), np.uint8))
    with pytest.raises(ValueError, match="int64"):
        model.predict(np.zeros((16, 16), np.int64))
    with pytest.raises(ValueError, match="tta 3: must be one of 1, 2, 4, 8"):
        model.predict(np.zeros((16, 16), np.uint8), tta=3)
    with pytest.raises(ValueError, match="is not a multiple of"):
        model.predict(np.zeros((16, 16), np.uint8), tile=100)
    with pytest.raises(ValueError, match="does not match ground truth"):
        urisc.evaluate(np.zeros((16, 16), np.uint8), np.zeros((16, 17), np.uint8))
    with pytest.raises(ValueError, match="unknown metric 'bogus'"):
        urisc.evaluate(np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8), metrics="bogus")
    with pytest.raises(ValueError, match="not binarized"):
        _, pred, gt, _ = next(fixture_pairs("grey"))
        urisc.evaluate(urisc.read_image(pred), urisc.read_image(gt), protocol="faithful")


def test_missing_files_raise_os_error(tmp_path):
    with pytest.raises(OSError, match="no such file"):
        urisc.read_image(tmp_path / "missing.png")
    with pytest.raises(OSError, match="cannot read"):
        urisc.load_model(tmp_path / "missing.safetensors")
    with pytest.raises(OSError, match="cannot read"):
        urisc.train(tmp_path / "missing.toml", tmp_path / "run")
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"not a model")
    with pytest.raises(OSError, match=str(damaged)):
        urisc.load_model(damaged)
    urisc.write_png(tmp_path / "x.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(OSError, match="exists"):
        urisc.write_png(tmp_path / "x.png", np.zeros((4, 4), np.uint8))


@needs_cli
def test_error_messages_are_the_clis(tmp_path):
    missing = str(tmp_path / "missing.safetensors")
    with pytest.raises(OSError) as e:
        urisc.load_model(missing)
    assert str(e.value) == cli_error("predict", "--model", missing, str(SLICE),
                                     "--out", str(tmp_path / "o"))
    config = str(tmp_path / "missing.toml")
    with pytest.raises(OSError) as e:
        urisc.train(config, tmp_path / "run")
    assert str(e.value) == cli_error("train", "--config", config, "--out", str(tmp_path / "r"))
    _, pred, gt, _ = next(fixture_pairs("grey"))
    with pytest.raises(ValueError) as e:
        urisc.evaluate(urisc.read_image(pred), urisc.read_image(gt), protocol="faithful")
    expected = cli_error("eval", "--pred", str(pred), "--gt", str(gt), "--protocol", "faithful")
    assert str(e.value) == "pred: " + expected.split(": ", 1)[1]
    with pytest.raises(ValueError) as e:
        urisc.evaluate(urisc.read_image(pred), urisc.read_image(gt), metrics="bogus")
    expected = cli_error("eval", "--pred", str(pred), "--gt", str(gt), "--metrics", "bogus")
    assert str(e.value) == expected.replace("--metrics", "metrics")


# ---------------------------------------------------------------------------------------------
# Attribution.

def test_attribute_gives_maps_and_the_context_curve(model, slice16):
    image = slice16[:128, :128]
    targets = [(40, 50), (90, 20)]
    a = urisc.attribute(model, image, targets, steps=16)
    assert a["targets"] == targets
    assert a["maps"].shape == (2, 128, 128) and a["maps"].dtype == np.float32
    for k in range(2):
        assert a["sum_ig"][k] == pytest.approx(float(a["maps"][k].astype(np.float64).sum()),
                                               rel=1e-4, abs=1e-4)
        assert a["r50"][k] <= a["r90"][k]
    curve = np.array(a["curve"])
    assert np.all(np.diff(curve) >= -1e-12) and curve[-1] == pytest.approx(1.0)
    assert a["curve_r50"] <= a["curve_r90"]
    assert a["summary"]["targets"] == 2
    with pytest.raises(ValueError, match="outside"):
        urisc.attribute(model, image, [(500, 0)])
    with pytest.raises(ValueError, match="multiple"):
        urisc.attribute(model, slice16[:100, :100], [(5, 5)])


@needs_cli
def test_attribute_matches_the_cli(model, slice16, tmp_path):
    crop = tmp_path / "crop.png"
    urisc.write_png(crop, slice16[:128, :128])
    targets = [(40, 50), (90, 20)]
    subprocess.run([cli(), "attribute", "--image", str(crop), "--out", str(tmp_path / "a"),
                    "--pixels", ";".join(f"{r},{c}" for r, c in targets), "--steps", "16",
                    "--heatmaps", "0", "--montage", "0"], check=True, capture_output=True)
    report = json.loads((tmp_path / "a" / "attribution.json").read_text())
    a = urisc.attribute(model, urisc.read_image(crop), targets, steps=16)
    by_target = {(t["row"], t["col"]): t for t in report["targets"]}
    for k, t in enumerate(targets):
        assert a["sum_ig"][k] == pytest.approx(by_target[t]["sum_ig"], rel=1e-6, abs=1e-9)
        assert a["r50"][k] == by_target[t]["r50"] and a["r90"][k] == by_target[t]["r90"]
    assert a["curve_r50"] == report["summary"]["r50_of_mean"]
    assert a["curve_r90"] == report["summary"]["r90_of_mean"]


# ---------------------------------------------------------------------------------------------
# Training.

def tiny_dataset(folder):
    """Two 32 × 32 striped images (crates/urisc-cli/tests/common/mod.rs `tiny_dataset`)."""
    i = np.arange(32 * 32)
    for k in range(2):
        label = np.where((i % 32 + k) % 8 < 2, 0, 255).astype(np.uint8).reshape(32, 32)
        image = np.where(label == 0, 60, 200).astype(np.uint8)
        for sub, img in [("images", image), ("labels", label)]:
            (folder / "data" / sub).mkdir(parents=True, exist_ok=True)
            urisc.write_png(folder / "data" / sub / f"{k}.png", img)
    config = folder / "tiny.toml"
    config.write_text(
        'seed = 1\n[data]\npath = "data"\nvalidation = ["1"]\n[model]\narchitecture = "unet"\n'
        "base_width = 4\ndepth = 2\n[crop]\nsize = 16\n[train]\nepochs = 2\nsteps_per_epoch = 2\n"
        "batch = 2\n")
    return config


def test_train_returns_the_epoch_logs(tmp_path):
    config = tiny_dataset(tmp_path)
    out = tmp_path / "run"
    logs = urisc.train(config, out)
    assert [l["epoch"] for l in logs] == [0, 1]
    for l in logs:
        assert math.isfinite(l["train_loss"]) and l["train_loss"] > 0
        assert 0 <= l["val_f1"] <= 1
    assert (out / "best.safetensors").is_file() and (out / "log.jsonl").is_file()
    trained = urisc.load_model(out / "best.safetensors")
    assert trained.predict(np.zeros((32, 32), np.uint8)).shape == (32, 32)
    with pytest.raises(ValueError):
        urisc.train(config, out)  # holds a run: resume or force
    with pytest.warns(UserWarning, match="resuming with train.epochs = 3"):
        more = urisc.train(config, out, overrides=["train.epochs=3"], resume=True)
    assert [l["epoch"] for l in more] == [2]
    with pytest.raises(ValueError):
        urisc.train(config, out, overrides=["train.epochs=abc"], force=True)


def test_the_type_stubs_match_the_module():
    """python/urisc.pyi ships in the wheel and names exactly the module's public functions."""
    import ast
    import inspect
    stub = Path(urisc.__file__).with_name("urisc.pyi")
    if not stub.exists():  # maturin installs a mixed layout as a package folder
        stub = Path(urisc.__file__).parent / "__init__.pyi"
    assert stub.exists(), f"no stubs beside {urisc.__file__}"
    tree = ast.parse(stub.read_text())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    public = {n for n, v in vars(urisc).items() if not n.startswith("_") and callable(v)
              and not inspect.isclass(v)}
    assert functions == public
    methods = {n.name for c in tree.body if isinstance(c, ast.ClassDef) and c.name == "Model"
               for n in c.body if isinstance(n, ast.FunctionDef)}
    assert methods == {n for n in dir(urisc.Model) if not n.startswith("_")}


def _write_tiff_stack(path, pages):
    """A minimal uncompressed 8-bit grey multi-page TIFF (little-endian), one strip per page."""
    import struct

    body = bytearray(b"II*\x00\x00\x00\x00\x00")
    ifd_offsets = []
    for page in pages:
        h, w = page.shape
        data_at = len(body)
        body += page.astype(np.uint8).tobytes()
        if len(body) % 2:
            body += b"\x00"
        ifd_offsets.append(len(body))
        tags = [
            (256, 3, 1, w), (257, 3, 1, h), (258, 3, 1, 8), (259, 3, 1, 1),
            (262, 3, 1, 1), (273, 4, 1, data_at), (277, 3, 1, 1), (278, 3, 1, h),
            (279, 4, 1, h * w),
        ]
        body += struct.pack("<H", len(tags))
        for tag, kind, count, value in tags:
            body += struct.pack("<HHI", tag, kind, count)
            body += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        body += b"\x00\x00\x00\x00"  # next IFD, patched below
    struct.pack_into("<I", body, 4, ifd_offsets[0])
    for this, nxt in zip(ifd_offsets, ifd_offsets[1:]):
        count = struct.unpack_from("<H", body, this)[0]
        struct.pack_into("<I", body, this + 2 + 12 * count, nxt)
    Path(path).write_bytes(bytes(body))


def test_stacks_are_read_page_by_page_with_section_names(tmp_path):
    pages = [np.full((6, 5), v, np.uint8) for v in (10, 20, 30)]
    stack = tmp_path / "stack.tif"
    _write_tiff_stack(stack, pages)
    sections = urisc.read_sections(stack)
    assert [name for name, _ in sections] == ["stack_z000", "stack_z001", "stack_z002"]
    for (_, array), page in zip(sections, pages):
        np.testing.assert_array_equal(array, page)
    # A stack is never read silently as its first page.
    with pytest.raises(ValueError, match="a stack of 3 page"):
        urisc.read_image(stack)
    # A single image is one section named by its stem.
    [(name, array)] = urisc.read_sections(SLICE)
    assert name == Path(SLICE).stem and array.shape == (512, 512)
