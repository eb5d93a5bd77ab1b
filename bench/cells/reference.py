"""Reference values for urisc-metrics' instance scores (`urisc_metrics::score_labels`) and for
urisc-cells' seeded watershed (`urisc_cells::seeded_watershed`, data/fixtures/instances/watershed.json).

Writes data/fixtures/instances/: GT membrane crops (PNG, membrane black), predicted label images
(32-bit unsigned TIFF) and expected.json with values from scikit-image (ARE and VOI) and an
independent numpy transcription of Fiji's foreground-restricted V_rand / V_info.

    pip install scikit-image tifffile
    python3 bench/cells/reference.py

Conventions (SPEC §4.5): GT cells = 4-connected components of GT value > 122 (membrane 0);
`adapted_rand_error(gt_cells, pred)` with its default (GT label 0 ignored; predicted 0 is a
segment); `variation_of_information(gt_cells, pred)` in bits, split = H(pred | gt),
merge = H(gt | pred); cremi = sqrt(are · (split + merge)); V_rand / V_info restricted to GT
foreground with predicted 0 pixels as singletons.
"""

import json
from pathlib import Path

import numpy as np
import skimage
import tifffile
from skimage import io, measure, segmentation
from skimage.metrics import adapted_rand_error, variation_of_information

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "data/fixtures/instances"


def gt_cells(gt):
    return measure.label(gt > 122, connectivity=1, background=0)


def fiji_foreground_restricted(gt, pred):
    fg = gt > 0
    g, p = gt[fg], pred[fg]
    n = float(g.size)
    if n == 0:
        return 0.0, 0.0
    _, gi = np.unique(g, return_inverse=True)
    a = np.bincount(gi).astype(float) / n
    line = p == 0
    aux = line.sum() / n
    pairs = np.stack([g[~line], p[~line]])
    _, counts = np.unique(pairs, axis=1, return_counts=True)
    pij = counts.astype(float) / n
    _, bi = np.unique(p[~line], return_inverse=True)
    b = np.bincount(bi).astype(float) / n
    sum_a2 = (a * a).sum()
    sum_b2 = (b * b).sum() + aux / n
    sum_ab2 = (pij * pij).sum() + aux / n
    prec, rec = sum_ab2 / sum_b2, sum_ab2 / sum_a2
    vrand = 2 * prec * rec / (prec + rec)
    xlogx = lambda x: (x[x > 0] * np.log(x[x > 0])).sum()
    sum_a = xlogx(a)
    sum_b = xlogx(b) - aux * np.log(n)
    sum_ab = xlogx(pij) - aux * np.log(n)
    ha, hb = -sum_a, -sum_b
    hab, hba = sum_b - sum_ab, sum_a - sum_ab
    pr = (ha - hab) / ha if ha != 0 else 0.0
    re = (hb - hba) / hb if hb != 0 else 0.0
    if ha == 0:
        pr, re = 0.0, 1.0
    if hb == 0:
        pr, re = 1.0, 0.0
    vinfo = 2 * pr * re / (pr + re) if pr + re != 0 else float("nan")
    return vrand, vinfo


def scramble(labels, rng):
    """Arbitrary u32 ids (0 kept): what label images from other tools look like."""
    ids = np.unique(labels)
    ids = ids[ids != 0]
    new = np.unique(rng.integers(1, 2**32, size=4 * ids.size, dtype=np.uint64))
    new = rng.permutation(new)[: ids.size]
    lut = dict(zip(ids.tolist(), new.tolist()))
    lut[0] = 0
    return np.vectorize(lut.get, otypes=[np.uint64])(labels).astype(np.uint32)


def main():
    rng = np.random.default_rng(20261128)
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []

    def add(name, gt, pred):
        io.imsave(OUT / f"{name}-gt.png", gt, check_contrast=False)
        tifffile.imwrite(OUT / f"{name}-pred.tif", pred.astype(np.uint32), compression="zlib")
        assert (tifffile.imread(OUT / f"{name}-pred.tif") == pred).all()
        t = gt_cells(gt)
        # Scores do not depend on the ids; scikit-image sizes its tables by the largest id, so
        # it scores the sequentially renumbered labels (the file keeps the scrambled ids).
        pred = segmentation.relabel_sequential(pred.astype(np.int64))[0]
        are, prec, rec = adapted_rand_error(t, pred)
        split, merge = variation_of_information(t, pred)
        vrand, vinfo = fiji_foreground_restricted(t, pred)
        cases.append(
            dict(
                name=name,
                are=are, are_precision=prec, are_recall=rec,
                voi_split=split, voi_merge=merge,
                cremi=float(np.sqrt(are * (split + merge))),
                vrand=vrand, vinfo=vinfo,
                gt_cells=int(t.max()),
                pred_cells=int(np.unique(pred[pred != 0]).size),
            )
        )

    gt16 = io.imread(ROOT / "data/isbi2012/labels/16.png")[:256, 128:384]
    gt17 = io.imread(ROOT / "data/isbi2012/labels/17.png")[256:, :256]
    cells16 = gt_cells(gt16)

    # 1. Every pixel labelled (membrane flooded into the cells), ids scrambled: ARE 0.
    full = segmentation.watershed(gt16.astype(float), cells16)
    add("flooded", gt16, scramble(full, rng))

    # 2. Merges and splits: random pairs of cells share an id, every cell is cut by row 100
    #    into two ids, and a one-pixel boundary (0) where the GT membrane is.
    merged = cells16.copy()
    ids = np.arange(1, cells16.max() + 1)
    rng.shuffle(ids)
    for a, b in zip(ids[0:20:2], ids[1:20:2]):
        merged[merged == b] = a
    merged[100:] = np.where(merged[100:] > 0, merged[100:] + 10000, 0)
    add("merge-split", gt16, scramble(merged, rng))

    # 3. Blocks of 16×16 with random ids, a tenth of them 0 (boundary).
    blocks = rng.integers(1, 60, size=(16, 16))
    blocks[rng.random((16, 16)) < 0.1] = 0
    add("blocks", gt17, np.kron(blocks, np.ones((16, 16), dtype=np.int64)).astype(np.uint32))

    # 4. Every pixel one segment.
    add("one", gt17, np.ones_like(gt17, dtype=np.uint32))

    meta = dict(
        generator="bench/cells/reference.py",
        scikit_image=skimage.__version__,
        numpy=np.__version__,
        cases=cases,
    )
    (OUT / "expected.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(cases, indent=1))
    watershed_fixture(rng)


def watershed_fixture(rng):
    """scikit-image `watershed(levels, markers, connectivity=1)` on 16-bit level images:
    continuous levels, six levels (plateaus everywhere) and one flat level. Seeds get distinct
    levels below every other pixel: scikit-image pushes all markers with age 0, so markers on
    equal levels pop in an order its heap leaves open (urisc takes row-major order)."""
    cases = []
    for name, (h, w, levels, seeds) in {
        "continuous": (48, 64, 65536, 12),
        "plateaus": (48, 64, 6, 12),
        "flat": (40, 50, 1, 5),
    }.items():
        img = (rng.integers(0, levels, size=(h, w)) * (65535 // max(levels - 1, 1))).astype(np.uint16)
        markers = np.zeros((h, w), np.int32)
        idx = rng.choice(h * w, size=seeds, replace=False)
        for k, i in enumerate(idx):
            markers.flat[i] = k + 1
            img.flat[i] = k
        out = segmentation.watershed(img, markers, connectivity=1)
        cases.append(
            dict(
                name=name, height=h, width=w,
                levels=img.ravel().tolist(),
                markers=markers.ravel().tolist(),
                labels=out.ravel().astype(int).tolist(),
            )
        )
    meta = dict(generator="bench/cells/reference.py", scikit_image=skimage.__version__, cases=cases)
    (OUT / "watershed.json").write_text(json.dumps(meta) + "\n")


if __name__ == "__main__":
    main()
