"""The Python reference pipeline of `urisc cells`' standard part, on a full U-RISC-size section, in one run
beside urisc: scipy's exact Euclidean distance transform of the non-membrane region, a Gaussian, the
regional maxima (8-connected plateaus, above 1 px) as seeds, and scikit-image's seeded watershed of the
probability map (4-connected). urisc runs the same with `--merge-threshold 0 --no-boundaries` (no
agglomeration, every pixel labelled); then the two label images are compared as partitions.

The agglomeration (average linkage on the region graph) has no pip-installable peer: waterz needs a
C++ build, elf/nifty are conda-only (the issue's premise), skimage.graph.merge_hierarchical is
quadratic in practice on ~60 000 fragments.

    bash bench/cells/peer.sh            # makes the venv, the section, runs both, prints the comparison
"""

import json
import resource
import sys
import time

import numpy as np
from scipy import ndimage
from skimage import io, morphology, segmentation

map_path, labels_out = sys.argv[1], sys.argv[2]
stages = {}


def stage(name, t0):
    stages[name] = round(time.perf_counter() - t0, 2)
    return time.perf_counter()


t = t0 = time.perf_counter()
v = io.imread(map_path)  # 8-bit, membrane dark: v = 255·(1 − p), as `urisc predict --probabilities` writes
t = stage("read", t)
levels = (255 - v.astype(np.uint16)) * 257  # urisc's 16-bit levels of p, exact for 8-bit maps
membrane = levels >= int(np.ceil(65535 * 0.5))
t = stage("threshold", t)
dist = ndimage.distance_transform_edt(~membrane).astype(np.float32)
t = stage("distance transform", t)
smooth = ndimage.gaussian_filter(dist, sigma=2.0, mode="nearest")
del dist
t = stage("gaussian", t)
peaks = morphology.local_maxima(smooth, connectivity=2, allow_borders=True) & (smooth > 1.0)
del smooth
markers, n_seeds = ndimage.label(peaks, structure=np.ones((3, 3)))
del peaks
t = stage("seeds", t)
labels = segmentation.watershed(levels, markers, connectivity=1)
t = stage("watershed", t)
np.save(labels_out, labels.astype(np.uint32))
stage("write", t)
print(
    json.dumps(
        {
            "seconds": round(time.perf_counter() - t0, 2),
            "stages": stages,
            "seeds": int(n_seeds),
            "cells": int(labels.max()),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    )
)
