"""Tiny Zarr v3 fixtures written by zarr-python, read by tests/zarr_read.rs.

Run from this folder: `pip install zarr numcodecs && python3 make_fixtures.py` (made with
zarr 3.1.6). The values are formulas the Rust test recomputes.
"""
import shutil

import numpy as np
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

for name in ["zstd_u16.zarr", "sharded_f32.zarr", "blosc_u8.zarr"]:
    shutil.rmtree(name, ignore_errors=True)

# uint16, 5 × 7 in 2 × 3 chunks, zstd, `/` keys; value (i * 977) % 65536 in C order.
a = zarr.create_array(
    "zstd_u16.zarr", shape=(5, 7), chunks=(2, 3), dtype="uint16",
    compressors=ZstdCodec(level=3, checksum=True), fill_value=0,
)
a[:] = (np.arange(35, dtype=np.uint32).reshape(5, 7) * 977 % 65536).astype(np.uint16)

# float32 stack 3 × 6 × 5, shards 2 × 4 × 4 of 1 × 2 × 2 inner chunks (zstd, crc32c index);
# value i / 89 in C order; the last inner chunks are never written (fill value 0.25).
b = zarr.create_array(
    "sharded_f32.zarr", shape=(3, 6, 5), shards=(2, 4, 4), chunks=(1, 2, 2),
    dtype="float32", compressors=ZstdCodec(level=1), fill_value=0.25,
)
values = (np.arange(90, dtype=np.float32) / 89).reshape(3, 6, 5)
b[:, :4, :] = values[:, :4, :]

# A codec urisc does not read.
c = zarr.create_array(
    "blosc_u8.zarr", shape=(2, 2), chunks=(2, 2), dtype="uint8", compressors=BloscCodec(),
)
c[:] = 1
