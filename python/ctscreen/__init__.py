"""ctscreen: X-ray CT of parcels and baggage.

Simulate and reconstruct scans, segment them, find dense metallic objects and tell
firearms, firearm parts, ammunition and blades from benign metal, with the evidence
for each call.

Conventions: volumes are float32 arrays with axes (z, y, x); spacing (dz, dy, dx) and
origin (z, y, x) are in millimetres; values are linear attenuation in mm^-1;
projections are (views, rows, cols) line integrals; angles are radians.
"""

from ._ctscreen import *  # noqa: F401,F403
from ._ctscreen import __version__, Volume  # noqa: F401
from . import phantom  # noqa: F401,E402

__all__ = [name for name in dir() if not name.startswith("_")]
