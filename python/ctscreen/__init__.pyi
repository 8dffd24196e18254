from typing import Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

__version__: str

class Volume:
    def __init__(
        self,
        array: npt.ArrayLike,
        spacing: Tuple[float, float, float] = (1.0, 1.0, 1.0),
        origin: Optional[Tuple[float, float, float]] = None,
        direction: Optional[Sequence[Sequence[float]]] = None,
    ) -> None: ...
    @property
    def array(self) -> npt.NDArray[np.float32]: ...
    @property
    def spacing(self) -> Tuple[float, float, float]: ...
    @property
    def origin(self) -> Tuple[float, float, float]: ...
    @property
    def direction(self) -> list[list[float]]: ...
    @property
    def shape(self) -> Tuple[int, int, int]: ...
    @property
    def affine(self) -> npt.NDArray[np.float64]: ...
    def crop(self, start: Tuple[int, int, int], size: Tuple[int, int, int]) -> "Volume": ...
    def resample(self, shape: Tuple[int, int, int]) -> "Volume": ...

# --- io_dicos: DICOS (NEMA IIC 1) CT volumes and Threat Detection Reports ---
from os import PathLike
from typing import Any, Dict, Literal, Union

_Path = Union[str, "PathLike[str]"]

def load_dicos(
    path: _Path,
    units: Literal["mu", "hu", "rescaled"] = "mu",
    water_mu_per_mm: Optional[float] = None,
) -> Volume: ...
def load_dicos_ct(
    path: _Path,
    units: Literal["mu", "hu", "rescaled"] = "mu",
    water_mu_per_mm: Optional[float] = None,
) -> Tuple[Volume, Dict[str, Any]]: ...
def save_dicos(
    path: _Path,
    volume: Volume,
    water_mu_per_mm: Optional[float] = None,
    compression: Optional[Literal["none", "rle", "jpeg-lossless", "jpeg-ls", "jpeg2000"]] = None,
    uid_seed: Optional[int] = None,
) -> Dict[str, Any]: ...
def is_dicos(path: _Path) -> bool: ...
def save_tdr_struct(
    path: _Path,
    report: Dict[str, Any],
    scan: Dict[str, Any],
    uid_seed: Optional[int] = None,
) -> None: ...
def load_tdr_struct(path: _Path, scan: Optional[Dict[str, Any]] = None) -> Dict[str, Any]: ...
