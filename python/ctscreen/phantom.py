"""Analytic phantoms and the seeded parcel generator (a thin layer over the native
module).

``parcel(seed, threats=...)`` builds a parcel with ground truth; ``Parcel`` and
``Phantom`` voxelise and project exactly; ``shepp_logan_2d`` / ``shepp_logan_3d`` give
the classic test images; ``materials``, ``mu_per_mm``, ``spectrum`` and
``effective_energy_kev`` expose the X-ray physics used by ``ctscreen.simulate``.
"""

from . import _ctscreen as _native
from ._ctscreen import Parcel, Phantom, analytic_projections, simulate  # noqa: F401

#: Names accepted in ``parcel(threats=[...])`` (plus the aliases "pistol",
#: "cartridges" and "blade").
THREAT_KINDS = tuple(_native._THREAT_KINDS)

shepp_logan_2d = _native._shepp_logan_2d
shepp_logan_3d = _native._shepp_logan_3d
materials = _native._materials
mu_per_mm = _native._mu_per_mm
density_g_cm3 = _native._density_g_cm3
spectrum = _native._spectrum
effective_energy_kev = _native._effective_energy_kev


def parcel(
    seed=0,
    threats="random",
    hard_benign=True,
    container="random",
    max_extent_mm=None,
    clutter=1.0,
    hide_probability=0.3,
):
    """Generate a parcel with ground truth; the same arguments give the same parcel.

    Parameters are those of :class:`ctscreen.Parcel` (seed, threats, hard_benign,
    container, max_extent_mm, clutter, hide_probability).

    Returns
    -------
    Parcel
    """
    return Parcel(seed, threats, hard_benign, container, max_extent_mm, clutter, hide_probability)


__all__ = [
    "Parcel",
    "Phantom",
    "THREAT_KINDS",
    "analytic_projections",
    "density_g_cm3",
    "effective_energy_kev",
    "materials",
    "mu_per_mm",
    "parcel",
    "shepp_logan_2d",
    "shepp_logan_3d",
    "simulate",
    "spectrum",
]
