"""Compares two label images as partitions: identical up to renumbering, or how many pixels differ.
    python3 compare.py URISC.tif PEER.npy"""
import json
import sys

import numpy as np
import tifffile

a = tifffile.imread(sys.argv[1]).astype(np.uint64).ravel()
b = np.load(sys.argv[2]).astype(np.uint64).ravel()
pairs, counts = np.unique(a << np.uint64(32) | b, return_counts=True)
ua, ub = np.unique(a).size, np.unique(b).size
# Pixels outside the largest overlap of their urisc cell: the disagreement.
pa = pairs >> np.uint64(32)
order = np.lexsort((-counts, pa))
first = np.ones(order.size, bool)
first[1:] = pa[order][1:] != pa[order][:-1]
agree = counts[order][first].sum()
print(json.dumps({
    "urisc_cells": int(ua), "peer_cells": int(ub), "label_pairs": int(pairs.size),
    "identical_partitions": bool(pairs.size == ua == ub),
    "pixels_outside_best_match": int(a.size - agree), "pixels": int(a.size),
}))
