import os
from typing import Optional, Sequence, Tuple, Union

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

# --- geometry ---------------------------------------------------------------------------

class Geometry:
    @property
    def angles(self) -> Optional[npt.NDArray[np.float64]]: ...
    @property
    def n_views(self) -> int: ...
    @property
    def detector_shape(self) -> Tuple[int, int]: ...
    @property
    def projection_shape(self) -> Tuple[int, int, int]: ...
    @property
    def beam(self) -> str: ...
    @property
    def angular_range_rad(self) -> Optional[float]: ...
    def view_vectors(self) -> npt.NDArray[np.float64]: ...
    def to_json(self) -> str: ...
    @staticmethod
    def from_json(text: str) -> "Geometry": ...
    @staticmethod
    def from_rtk_xml(
        path: Union[str, "os.PathLike[str]"],
        detector_shape: Tuple[int, int],
        detector_spacing_mm: Union[float, Tuple[float, float]],
        projection_origin_mm: Optional[Tuple[float, float]] = None,
    ) -> "Geometry": ...
    def to_rtk_xml(self, path: Union[str, "os.PathLike[str]", None] = None) -> str: ...

class ParallelBeamGeometry(Geometry):
    def __init__(
        self,
        angles: npt.ArrayLike,
        detector_cols: int,
        detector_spacing_mm: Union[float, Tuple[float, float]],
        detector_rows: int = 1,
        detector_offset_mm: Tuple[float, float] = (0.0, 0.0),
    ) -> None: ...
    @property
    def detector_spacing_mm(self) -> Tuple[float, float]: ...
    @property
    def detector_offset_mm(self) -> Tuple[float, float]: ...

class FanBeamGeometry(Geometry):
    def __init__(
        self,
        angles: npt.ArrayLike,
        source_to_isocenter_mm: float,
        source_to_detector_mm: float,
        detector_cols: int,
        detector_spacing_mm: float,
        detector_offset_mm: float = 0.0,
    ) -> None: ...
    @property
    def source_to_isocenter_mm(self) -> float: ...
    @property
    def source_to_detector_mm(self) -> float: ...
    @property
    def detector_spacing_mm(self) -> float: ...
    @property
    def detector_offset_mm(self) -> float: ...

class ConeBeamGeometry(Geometry):
    def __init__(
        self,
        angles: npt.ArrayLike,
        source_to_isocenter_mm: float,
        source_to_detector_mm: float,
        detector_shape: Tuple[int, int],
        detector_spacing_mm: Union[float, Tuple[float, float]],
        detector_offset_mm: Tuple[float, float] = (0.0, 0.0),
    ) -> None: ...
    @property
    def source_to_isocenter_mm(self) -> float: ...
    @property
    def source_to_detector_mm(self) -> float: ...
    @property
    def detector_spacing_mm(self) -> Tuple[float, float]: ...
    @property
    def detector_offset_mm(self) -> Tuple[float, float]: ...
    @property
    def fan_angle_rad(self) -> float: ...

class VectorGeometry(Geometry):
    def __init__(
        self, beam: str, detector_shape: Tuple[int, int], vectors: npt.ArrayLike
    ) -> None: ...

# --- project ----------------------------------------------------------------------------

def forward_project(
    volume: Union[Volume, npt.ArrayLike], geometry: Geometry
) -> npt.NDArray[np.float32]: ...
def backproject(
    projections: npt.ArrayLike,
    geometry: Geometry,
    shape: Tuple[int, int, int],
    spacing: Tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> Volume: ...

# --- recon ------------------------------------------------------------------------------

def fbp(
    sinogram: npt.ArrayLike,
    geometry: Geometry,
    shape: Tuple[int, int],
    spacing_mm: Tuple[float, float] = (1.0, 1.0),
    filter: str = "ram-lak",
) -> npt.NDArray[np.float32]: ...
def fdk(
    projections: npt.ArrayLike,
    geometry: Geometry,
    shape: Tuple[int, int, int],
    spacing_mm: Tuple[float, float, float] = (1.0, 1.0, 1.0),
    filter: str = "ram-lak",
    short_scan: str = "auto",
    progress: bool = False,
) -> Volume: ...
def sirt(
    projections: npt.ArrayLike,
    geometry: Geometry,
    shape: Tuple[int, int, int],
    spacing_mm: Tuple[float, float, float] = (1.0, 1.0, 1.0),
    iterations: int = 50,
    nonneg: bool = True,
    relaxation: float = 1.0,
    tol: float = 1e-5,
    progress: bool = False,
    return_residuals: bool = False,
) -> Union[Volume, Tuple[Volume, list[float]]]: ...
def sart(
    projections: npt.ArrayLike,
    geometry: Geometry,
    shape: Tuple[int, int, int],
    spacing_mm: Tuple[float, float, float] = (1.0, 1.0, 1.0),
    iterations: int = 10,
    subsets: int = 10,
    nonneg: bool = True,
    relaxation: float = 1.0,
    tol: float = 1e-5,
    progress: bool = False,
    return_residuals: bool = False,
) -> Union[Volume, Tuple[Volume, list[float]]]: ...
def cgls(
    projections: npt.ArrayLike,
    geometry: Geometry,
    shape: Tuple[int, int, int],
    spacing_mm: Tuple[float, float, float] = (1.0, 1.0, 1.0),
    iterations: int = 20,
    nonneg: bool = False,
    tol: float = 1e-5,
    progress: bool = False,
    return_residuals: bool = False,
) -> Union[Volume, Tuple[Volume, list[float]]]: ...
def mar(
    projections: npt.ArrayLike,
    geometry: Geometry,
    shape: Tuple[int, int, int],
    spacing_mm: Tuple[float, float, float] = (1.0, 1.0, 1.0),
    method: str = "nmar",
    metal_threshold: float = 0.08,
    water_mu: float = 0.0193,
    mask_dilation: int = 1,
    filter: str = "ram-lak",
    progress: bool = False,
) -> Volume: ...
