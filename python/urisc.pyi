"""Type stubs of the `urisc` extension module (crates/urisc-py): editors and type checkers read
these; the documentation of each function is in its docstring (`help(urisc.load_model)`)."""

from os import PathLike
from typing import Any, Literal, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Path = Union[str, PathLike[str]]
_Image = npt.NDArray[Any]

class Model:
    """A loaded segmentation model (`load_model`)."""

    def predict(
        self,
        array: _Image,
        tta: Literal[1, 2, 4, 8] = 1,
        tile: Optional[int] = None,
        overlap: Optional[int] = None,
        batch: int = 4,
        pixel_size_nm: Optional[float] = None,
        scale: Optional[float] = None,
    ) -> npt.NDArray[np.float32]: ...
    @property
    def threshold(self) -> float: ...
    @property
    def tile_size(self) -> int: ...
    @property
    def pixel_size_nm(self) -> Optional[float]: ...
    @property
    def size_multiple(self) -> int: ...
    @property
    def info(self) -> dict[str, Any]: ...
    def export_onnx(
        self,
        path: _Path,
        output: Literal["probability", "logits"] = "probability",
        overwrite: bool = False,
    ) -> None: ...
    def export_bioimageio(
        self,
        path: _Path,
        sample: _Image,
        name: Optional[str] = None,
        overwrite: bool = False,
    ) -> None: ...

def load_model(path: Optional[_Path] = None) -> Model: ...
def read_image(path: _Path) -> npt.NDArray[Any]: ...
def read_sections(path: _Path) -> list[tuple[str, npt.NDArray[Any]]]: ...
def write_png(
    path: _Path, array: _Image, pixel_size_nm: Optional[float] = None, force: bool = False
) -> None: ...
def evaluate(
    pred: _Image,
    gt: _Image,
    protocol: Literal["binarized", "faithful"] = "binarized",
    metrics: str = "all",
) -> dict[str, Any]: ...
def attribute(
    model: Model,
    image: _Image,
    targets: Sequence[tuple[int, int]],
    steps: int = 50,
    target: Literal["membrane", "background"] = "membrane",
    batch_pixels: int = 1 << 18,
) -> dict[str, Any]: ...
def train(
    config_path: _Path,
    out: _Path,
    overrides: Sequence[str] = ...,
    resume: bool = False,
    force: bool = False,
) -> list[dict[str, Any]]: ...
