import os
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import phantom as phantom

_PathLike = Union[str, "os.PathLike[str]"]

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
# --- io ---------------------------------------------------------------------

def load(path: _PathLike) -> Volume: ...
def save(path: _PathLike, volume: Volume, compress: bool = False) -> None: ...
def load_dicom(path: _PathLike, series: Optional[str] = None) -> Volume: ...
def read_info(path: _PathLike) -> Dict[str, Any]: ...

# --- phantom ----------------------------------------------------------------------------

class Parcel:
    def __init__(
        self,
        seed: int = 0,
        threats: Union[str, Sequence[str], None] = None,
        hard_benign: bool = True,
        container: str = "random",
        max_extent_mm: Optional[float] = None,
        clutter: float = 1.0,
        hide_probability: float = 0.3,
    ) -> None: ...
    @property
    def seed(self) -> int: ...
    @property
    def container(self) -> str: ...
    @property
    def extent_mm(self) -> Tuple[float, float, float]: ...
    @property
    def objects(self) -> List[Dict[str, Any]]: ...
    @property
    def options(self) -> Dict[str, Any]: ...
    @property
    def phantom(self) -> "Phantom": ...
    def threats(self) -> List[Dict[str, Any]]: ...
    def voxelize(
        self,
        shape: Tuple[int, int, int],
        spacing_mm: Union[float, Tuple[float, float, float]],
        energy_kev: Optional[float] = None,
        supersample: int = 2,
    ) -> Volume: ...
    def truth_labels(
        self,
        shape: Tuple[int, int, int],
        spacing_mm: Union[float, Tuple[float, float, float]],
    ) -> npt.NDArray[np.uint32]: ...

class Phantom:
    def __init__(self, json: Optional[str] = None) -> None: ...
    @staticmethod
    def shepp_logan_2d(radius_mm: float) -> "Phantom": ...
    @staticmethod
    def shepp_logan_3d(radius_mm: float) -> "Phantom": ...
    def add_ellipsoid(
        self,
        center_mm: Tuple[float, float, float],
        semi_axes_mm: Tuple[float, float, float],
        material: Optional[str] = None,
        mu: Optional[float] = None,
        rotation: Optional[Sequence[Sequence[float]]] = None,
        axis: Optional[Tuple[float, float, float]] = None,
        label: int = 1,
        cls: str = "clutter",
    ) -> "Phantom": ...
    def add_cuboid(
        self,
        center_mm: Tuple[float, float, float],
        size_mm: Tuple[float, float, float],
        material: Optional[str] = None,
        mu: Optional[float] = None,
        rotation: Optional[Sequence[Sequence[float]]] = None,
        axis: Optional[Tuple[float, float, float]] = None,
        label: int = 1,
        cls: str = "clutter",
    ) -> "Phantom": ...
    def add_cylinder(
        self,
        center_mm: Tuple[float, float, float],
        radius_mm: float,
        length_mm: float,
        material: Optional[str] = None,
        mu: Optional[float] = None,
        rotation: Optional[Sequence[Sequence[float]]] = None,
        axis: Optional[Tuple[float, float, float]] = None,
        label: int = 1,
        cls: str = "clutter",
    ) -> "Phantom": ...
    def add_tube(
        self,
        center_mm: Tuple[float, float, float],
        outer_radius_mm: float,
        inner_radius_mm: float,
        length_mm: float,
        material: Optional[str] = None,
        mu: Optional[float] = None,
        rotation: Optional[Sequence[Sequence[float]]] = None,
        axis: Optional[Tuple[float, float, float]] = None,
        label: int = 1,
        cls: str = "clutter",
    ) -> "Phantom": ...
    @property
    def objects(self) -> List[Dict[str, Any]]: ...
    def __len__(self) -> int: ...
    def to_json(self) -> str: ...
    def voxelize(
        self,
        shape: Tuple[int, int, int],
        spacing_mm: Union[float, Tuple[float, float, float]],
        energy_kev: Optional[float] = None,
        supersample: int = 2,
    ) -> Volume: ...
    def voxelize_labels(
        self,
        shape: Tuple[int, int, int],
        spacing_mm: Union[float, Tuple[float, float, float]],
    ) -> npt.NDArray[np.uint32]: ...
    def line_integral(
        self,
        point_mm: Tuple[float, float, float],
        direction: Tuple[float, float, float],
        energy_kev: Optional[float] = None,
    ) -> float: ...
    def path_lengths(
        self, point_mm: Tuple[float, float, float], direction: Tuple[float, float, float]
    ) -> Dict[str, float]: ...

def simulate(
    scene: Union[Parcel, Phantom],
    geometry: Geometry,
    spectrum_kvp: float = 120.0,
    photons: float = 1e5,
    seed: int = 0,
    noise: bool = True,
    filtration_al_mm: float = 2.5,
    filtration_cu_mm: float = 0.1,
    bin_kev: float = 2.0,
    electronic_noise: float = 0.0,
    count_floor: float = 0.5,
    detector: str = "photon_counting",
) -> npt.NDArray[np.float32]: ...
def analytic_projections(
    scene: Union[Parcel, Phantom], geometry: Geometry, energy_kev: Optional[float] = None
) -> npt.NDArray[np.float32]: ...

# --- scanner ---------------------------------------------------------------------------
def scanner_geometry(
    shape: Tuple[int, int, int] = (128, 128, 128), field_of_view_mm: float = 400.0, views: int = 0
) -> "ConeBeamGeometry": ...
def scan_parcel(
    parcel: "Parcel",
    shape: Tuple[int, int, int] = (128, 128, 128),
    field_of_view_mm: Optional[float] = None,
    views: int = 0,
    spectrum_kvp: float = 120.0,
    photons: float = 1e5,
    seed: Optional[int] = None,
) -> Volume: ...
# --- segment ---------------------------------------------------------------

def threshold_otsu(image: npt.ArrayLike, nbins: int = 256) -> float: ...
def threshold_multiotsu(
    image: npt.ArrayLike, classes: int = 3, nbins: int = 256
) -> npt.NDArray[np.float32]: ...
def hysteresis(
    image: npt.ArrayLike, low: float, high: float, connectivity: int = 6
) -> npt.NDArray[np.bool_]: ...
def binary_erosion(
    mask: npt.ArrayLike, structure: Optional[npt.ArrayLike] = None
) -> npt.NDArray[np.bool_]: ...
def binary_dilation(
    mask: npt.ArrayLike, structure: Optional[npt.ArrayLike] = None
) -> npt.NDArray[np.bool_]: ...
def binary_opening(
    mask: npt.ArrayLike, structure: Optional[npt.ArrayLike] = None
) -> npt.NDArray[np.bool_]: ...
def binary_closing(
    mask: npt.ArrayLike, structure: Optional[npt.ArrayLike] = None
) -> npt.NDArray[np.bool_]: ...
def fill_holes(mask: npt.ArrayLike, connectivity: int = 6) -> npt.NDArray[np.bool_]: ...
def ball(radius: int) -> npt.NDArray[np.uint8]: ...
def cube(width: int) -> npt.NDArray[np.uint8]: ...
def label(
    mask: npt.ArrayLike, connectivity: int = 26
) -> Tuple[npt.NDArray[np.uint32], int]: ...

class RegionProps:
    @property
    def label(self) -> int: ...
    @property
    def num_voxels(self) -> int: ...
    @property
    def area(self) -> float: ...
    @property
    def volume_mm3(self) -> float: ...
    @property
    def bbox(self) -> list[int]: ...
    @property
    def bbox_mm(self) -> list[float]: ...
    @property
    def centroid(self) -> list[float]: ...
    @property
    def centroid_mm(self) -> list[float]: ...
    @property
    def intensity_mean(self) -> Optional[float]: ...
    @property
    def intensity_min(self) -> Optional[float]: ...
    @property
    def intensity_max(self) -> Optional[float]: ...
    @property
    def inertia_tensor(self) -> npt.NDArray[np.float64]: ...
    @property
    def inertia_tensor_eigvals(self) -> list[float]: ...
    @property
    def inertia_tensor_mm(self) -> npt.NDArray[np.float64]: ...
    @property
    def inertia_tensor_eigvals_mm(self) -> list[float]: ...
    @property
    def principal_axes(self) -> npt.NDArray[np.float64]: ...
    @property
    def principal_variances_mm2(self) -> list[float]: ...
    @property
    def principal_extents_mm(self) -> list[float]: ...
    @property
    def extent(self) -> float: ...
    @property
    def exposed_faces(self) -> list[int]: ...
    @property
    def surface_area_mm2(self) -> Optional[float]: ...
    @property
    def perimeter_mm(self) -> Optional[float]: ...
    @property
    def euler_number(self) -> int: ...
    @property
    def ndim(self) -> int: ...

def regionprops(
    labels: npt.ArrayLike,
    intensity: Volume | npt.ArrayLike | None = None,
    spacing: Optional[Sequence[float]] = None,
    origin: Optional[Sequence[float]] = None,
) -> list[RegionProps]: ...

# --- detect ----------------------------------------------------------------------------

class Finding:
    id: int
    kind: str
    score: float
    threat_probability: Optional[float]
    bbox_mm: Tuple[float, float, float, float, float, float]
    voxel_count: int
    volume_mm3: float
    mean_mu: float
    material: str
    mass_g: float
    centroid_mm: Tuple[float, float, float]
    principal_axes: list[list[float]]
    extents_mm: Tuple[float, float, float]
    evidence: list[str]
    features: Dict[str, float]

class Shield:
    bbox_mm: Tuple[float, float, float, float, float, float]
    volume_mm3: float
    least_line_integral: float
    findings: list[int]
    evidence: list[str]

class Report:
    @property
    def findings(self) -> list[Finding]: ...
    @property
    def shields(self) -> list[Shield]: ...
    @property
    def verdict(self) -> str: ...
    @property
    def threshold(self) -> float: ...
    def to_json(self, indent: bool = False) -> str: ...
    def to_dict(self) -> Dict[str, Any]: ...
    @staticmethod
    def from_json(text: str) -> "Report": ...
    def with_score_map(self, score_map: "ScoreMap") -> "Report": ...

class ScoreMap:
    @property
    def fitted_on(self) -> str: ...
    @property
    def findings(self) -> int: ...
    @property
    def scores(self) -> list[float]: ...
    @property
    def probabilities(self) -> list[float]: ...
    @staticmethod
    def fit(
        scores: Sequence[float], threats: Sequence[bool], fitted_on: str = ""
    ) -> "ScoreMap": ...
    @staticmethod
    def builtin() -> "ScoreMap": ...
    @staticmethod
    def from_json(text: str) -> "ScoreMap": ...
    def to_json(self) -> str: ...
    def probability(self, score: float) -> float: ...

def detect(
    volume: Volume,
    energy_kev: float = 70.0,
    threshold: Optional[float] = None,
    metal_energy_kev: Optional[float] = None,
    **options: Any,
) -> Report: ...
def detect_options() -> Dict[str, Any]: ...
def evaluate(report: Report, parcel: "Parcel") -> Dict[str, Any]: ...
def evaluate_set(
    parcels: int = 200,
    size: int = 128,
    seed: int = 1000000,
    threat_fraction: float = 0.5,
    max_extent_mm: float = 300.0,
    threshold: Optional[float] = None,
    mode: Literal["scan", "truth"] = "scan",
    photons: float = 1e5,
    progress: bool = False,
    **options: Any,
) -> Dict[str, Any]: ...
# --- io.dicos: DICOS (NEMA IIC 1) CT volumes and Threat Detection Reports ---
# (load / save / read_info above also read and write DICOS CT: ".dcs")

def load_dicos(
    path: _PathLike,
    units: Literal["mu", "hu", "rescaled"] = "mu",
    water_mu_per_mm: Optional[float] = None,
) -> Volume: ...
def load_dicos_ct(
    path: _PathLike,
    units: Literal["mu", "hu", "rescaled"] = "mu",
    water_mu_per_mm: Optional[float] = None,
) -> Tuple[Volume, Dict[str, Any]]: ...
def save_dicos(
    path: _PathLike,
    volume: Volume,
    water_mu_per_mm: Optional[float] = None,
    compression: Optional[Literal["none", "rle", "jpeg-lossless", "jpeg-ls", "jpeg2000"]] = None,
    uid_seed: Optional[int] = None,
) -> Dict[str, Any]: ...
def is_dicos(path: _PathLike) -> bool: ...
def save_tdr(
    path: _PathLike,
    report: Report,
    scan: Optional[_PathLike] = None,
    uid_seed: Optional[int] = None,
) -> None: ...
def load_tdr(path: _PathLike) -> Report: ...

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
