"""urisc's ONNX and bioimage.io exports run in ONNX Runtime with urisc's numbers.

Needs the `urisc` binary (see test_urisc.cli) to export; skipped without it.
"""

import io
import json
import subprocess
import zipfile

import numpy as np
import onnxruntime as ort
import pytest

from test_urisc import SLICE, cli


def run_ort(model_bytes, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x})[0]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    exe = cli()
    if exe is None:
        pytest.skip("no urisc binary to export with")
    out = tmp_path_factory.mktemp("bioimageio") / "default.zip"
    subprocess.run([exe, "model", "export", "--format", "bioimageio", "--sample", str(SLICE),
                    "--out", str(out)], check=True, capture_output=True)
    return zipfile.ZipFile(out)


def npy(package, name):
    return np.load(io.BytesIO(package.read(name)))


def preprocess(package, v):
    """The rdf's scale_linear preprocessing, as bioimage.io tools apply it."""
    rdf = package.read("rdf.yaml").decode()
    gain = float(rdf.split("gain: ")[1].split()[0])
    offset = float(rdf.split("offset: ")[1].split()[0])
    return (gain * v + offset).astype(np.float32)


def test_the_bioimageio_package_reproduces_urisc_in_onnx_runtime(package):
    names = set(package.namelist())
    assert {"rdf.yaml", "weights.onnx", "test_input.npy", "test_output.npy", "cover.png",
            "README.md", "training.json"} <= names
    x = npy(package, "test_input.npy")
    expected = npy(package, "test_output.npy")
    assert x.shape == expected.shape == (1, 1, 256, 256)
    assert x.min() >= 0 and x.max() <= 255 and x.max() > 100, "8-bit EM intensities"
    p = run_ort(package.read("weights.onnx"), preprocess(package, x))
    assert np.abs(p - expected).max() < 1e-4
    # A real membrane map, not a constant: the slice's membranes are a minority of pixels.
    assert 0.05 < (expected >= 0.5).mean() < 0.5
    provenance = json.loads(package.read("training.json"))
    assert provenance["model"]["base_width"] >= 1


def test_onnx_logits_match_the_package_output(package, tmp_path):
    exe = cli()
    out = tmp_path / "default.onnx"
    subprocess.run([exe, "model", "export", "--format", "onnx", "--output", "logits",
                    "--out", str(out)], check=True, capture_output=True)
    x = preprocess(package, npy(package, "test_input.npy"))
    logits = run_ort(out.read_bytes(), x)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    assert np.abs(p - npy(package, "test_output.npy")).max() < 1e-4
    # Dynamic height and width: another size through the same file.
    small = run_ort(out.read_bytes(), x[:, :, :64, :96].copy())
    assert small.shape == (1, 1, 64, 96)
    # Exporting again refuses to overwrite.
    again = subprocess.run([exe, "model", "export", "--out", str(out)], capture_output=True,
                           text=True)
    assert again.returncode != 0 and "exists" in again.stderr


def test_the_python_module_exports_too(package, tmp_path):
    import urisc

    model = urisc.load_model()
    model.export_onnx(tmp_path / "m.onnx")
    x = preprocess(package, npy(package, "test_input.npy"))
    p = run_ort((tmp_path / "m.onnx").read_bytes(), x)
    assert np.abs(p - npy(package, "test_output.npy")).max() < 1e-4
    with pytest.raises(OSError, match="exists"):
        model.export_onnx(tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="logits"):
        model.export_onnx(tmp_path / "n.onnx", output="softmax")
    sample = urisc.read_image(str(SLICE))
    model.export_bioimageio(tmp_path / "p.zip", sample)
    ours = zipfile.ZipFile(tmp_path / "p.zip")
    assert np.array_equal(npy(ours, "test_output.npy"), npy(package, "test_output.npy"))
