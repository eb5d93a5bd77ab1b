#!/usr/bin/env python3
"""Writes the seed corpus (fuzz/corpus/TARGET/): tiny valid files of every kind the readers
take, so the fuzzer starts from inputs that reach deep into each decoder. Standard library only;
the JPEG seeds are the test images of crates/urisc-io/tests/data."""
import gzip, json, os, shutil, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def png(w, h, colour, depth, rows, interlace=0):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, interlace))
            + chunk(b"pHYs", struct.pack(">IIB", 250000000, 250000000, 1))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


put("png", "grey8", png(5, 3, 0, 8, [bytes(range(r * 5, r * 5 + 5)) for r in range(3)]))
put("png", "grey16", png(3, 2, 0, 16, [bytes(range(6)), bytes(range(6, 12))]))
put("png", "rgb8", png(2, 2, 2, 8, [bytes([1, 2, 3, 4, 4, 4]), bytes([9, 9, 9, 0, 0, 255])]))
put("png", "grey1", png(9, 2, 0, 1, [b"\xa5\x80", b"\x0f\x00"]))
put("png", "interlaced", png(4, 4, 0, 8, [bytes(range(r * 4, r * 4 + 4)) for r in range(4)], 1))


def tiff(w, h, bits, photometric, data, compression=1, sample_format=1, samples=1, tile=None):
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, bits), (259, 3, 1, compression),
               (262, 3, 1, photometric), (277, 3, 1, samples), (339, 3, 1, sample_format)]
    if tile:
        entries += [(322, 3, 1, tile), (323, 3, 1, tile), (324, 4, 1, None), (325, 4, 1, len(data))]
    else:
        entries += [(273, 4, 1, None), (278, 4, 1, h), (279, 4, 1, len(data))]
    entries.sort()
    at = 8 + 2 + 12 * len(entries) + 4
    out = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        out += struct.pack("<HHII", tag, kind, count, at if value is None else value)
    return out + struct.pack("<I", 0) + data


put("tiff", "grey8", tiff(5, 3, 8, 1, bytes(range(15))))
put("tiff", "white8", tiff(5, 3, 8, 0, bytes(range(15))))
put("tiff", "grey16", tiff(3, 2, 16, 1, struct.pack("<6H", *range(0, 60000, 10000))))
put("tiff", "float32", tiff(2, 2, 32, 1, struct.pack("<4f", 0, 0.25, 0.5, 1.5), sample_format=3))
put("tiff", "rgb8", tiff(2, 1, 8, 2, bytes([1, 2, 3, 7, 7, 7]), samples=3))
put("tiff", "bits1", tiff(9, 2, 1, 1, b"\xa5\x80\x0f\x00"))
put("tiff", "deflate", tiff(4, 4, 8, 1, zlib.compress(bytes(range(16))), compression=8))
put("tiff", "packbits", tiff(4, 2, 8, 1, b"\x03\x01\x02\x03\x04\xfd\x09", compression=32773))
put("tiff", "tiled", tiff(20, 18, 8, 1, bytes(range(256)), tile=16))

os.makedirs(os.path.join(CORPUS, "jpeg"), exist_ok=True)
for name in ["grey.jpg", "colour.jpg", "grey_rgb.jpg"]:
    shutil.copy(os.path.join(HERE, "../crates/urisc-io/tests/data", name), os.path.join(CORPUS, "jpeg", name))


def array(shape, chunk, dtype="uint8", codecs=None, fill=0):
    return {"zarr_format": 3, "node_type": "array", "shape": shape, "data_type": dtype,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": fill, "codecs": codecs or [{"name": "bytes"}]}


group = {"zarr_format": 3, "node_type": "group", "attributes": {"ome": {"version": "0.5", "multiscales": [{
    "axes": [{"name": "y", "type": "space", "unit": "nanometer"}, {"name": "x", "type": "space", "unit": "nanometer"}],
    "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [4.0, 4.0]}]}]}]}}}
for name, meta in [
    ("group", group),
    ("array_u8", array([40, 48], [32, 32])),
    ("array_f32_3d", array([2, 10, 12], [1, 8, 8], "float32", fill="NaN")),
    ("array_sharded", array([40, 48], [32, 32], "uint16", [{"name": "sharding_indexed", "configuration": {
        "chunk_shape": [16, 16], "codecs": [{"name": "bytes"}, {"name": "zstd"}],
        "index_codecs": [{"name": "bytes"}, {"name": "crc32c"}]}}])),
    ("array_v2_keys", array([1, 1, 9, 9], [1, 1, 4, 4], "float64",
                            [{"name": "transpose", "configuration": {"order": [0, 1, 3, 2]}}, {"name": "bytes"},
                             {"name": "gzip", "configuration": {"level": 5}}])),
]:
    put("zarr_meta", name, json.dumps(meta).encode())

samples = bytes((i * 7) % 256 for i in range(32 * 32))
crc32c_table = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    crc32c_table.append(c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = crc32c_table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# The first byte picks the pipeline (low 3 bits) and the data type (bits 3-4) of zarr_chunk.rs.
put("zarr_chunk", "raw_u8", bytes([0]) + samples)
put("zarr_chunk", "gzip_u8", bytes([1]) + gzip.compress(samples))
put("zarr_chunk", "crc_u8", bytes([3]) + samples + struct.pack("<I", crc32c(samples)))
wide = gzip.compress(struct.pack(">1024H", *range(0, 65536, 64)), mtime=0)
put("zarr_chunk", "gzip_crc_u16_be", bytes([7 | 1 << 3]) + wide + struct.pack("<I", crc32c(wide)))
