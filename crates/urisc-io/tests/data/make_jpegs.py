"""Makes the JPEG fixtures of tests/jpeg.rs (run once; the outputs are committed).

Needs Pillow. The pixel formulas are repeated in tests/jpeg.rs, which checks the decoded
values against them (within ±3, what quality-95 JPEG keeps of smooth content).
"""
from pathlib import Path

from PIL import Image

H, W = 20, 24
here = Path(__file__).parent


def grey(y, x):
    return 10 + 7 * x + 3 * y


def colour(y, x):
    return (30 + 7 * x, 200 - 6 * y, 60 + 3 * x + 4 * y)


g = Image.new("L", (W, H))
g.putdata([grey(y, x) for y in range(H) for x in range(W)])
g.save(here / "grey.jpg", quality=95)

c = Image.new("RGB", (W, H))
c.putdata([colour(y, x) for y in range(H) for x in range(W)])
# Progressive, chroma subsampled 4:2:0: the common camera/web form.
c.save(here / "colour.jpg", quality=95, progressive=True, subsampling=2)

# A grey picture stored as three-channel (YCbCr) JPEG: its channels decode equal.
gc = g.convert("RGB")
gc.save(here / "grey_rgb.jpg", quality=95, subsampling=0)

# CMYK (Adobe) JPEG, which urisc refuses as it refuses CMYK TIFF.
c.convert("CMYK").save(here / "cmyk.jpg", quality=90)
