from typing import Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import Parcel as Parcel
from . import Phantom as Phantom
from . import Volume
from . import analytic_projections as analytic_projections
from . import simulate as simulate

THREAT_KINDS: Tuple[str, ...]

def parcel(
    seed: int = 0,
    threats: Union[str, Sequence[str], None] = "random",
    hard_benign: bool = True,
    container: str = "random",
    max_extent_mm: Optional[float] = None,
    clutter: float = 1.0,
    hide_probability: float = 0.3,
) -> Parcel: ...
def shepp_logan_2d(n: int = 256, spacing_mm: float = 1.0, supersample: int = 3) -> npt.NDArray[np.float32]: ...
def shepp_logan_3d(
    shape: Tuple[int, int, int] = (128, 128, 128), spacing_mm: float = 1.0, supersample: int = 2
) -> Volume: ...
def materials() -> list[str]: ...
def mu_per_mm(material: str, energy_kev: float) -> float: ...
def density_g_cm3(material: str) -> float: ...
def spectrum(
    kvp: float = 120.0,
    filtration_al_mm: float = 2.5,
    filtration_cu_mm: float = 0.1,
    bin_kev: float = 1.0,
) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def effective_energy_kev(
    kvp: float = 120.0, filtration_al_mm: float = 2.5, filtration_cu_mm: float = 0.1
) -> float: ...
