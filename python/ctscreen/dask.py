"""Screen a batch of parcels on a ``dask.distributed`` cluster, one task per item.

The Rust functions release the GIL and every ctscreen object pickles, so items and
reports travel between processes and machines. With ``client=None`` the items are
screened one after the other in this process (the same results, in the same order).

Example
-------
>>> from dask.distributed import Client, LocalCluster          # doctest: +SKIP
>>> from ctscreen.dask import screen                            # doctest: +SKIP
>>> with LocalCluster(n_workers=2, processes=True) as cluster, Client(cluster) as client:
...     reports = screen(["a.nii.gz", "b.mha"], client=client)   # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any, Iterable, List, Optional

__all__ = ["screen", "screen_one"]


def screen_one(item: Any, **detect_options):
    """Screens one item and returns its report.

    Parameters
    ----------
    item : str, os.PathLike, ctscreen.Volume or ctscreen.phantom.Parcel
        A volume file (any format :func:`ctscreen.load` reads), a volume, or a
        generated parcel (scanned and reconstructed by :func:`ctscreen.scan_parcel`).
    **detect_options
        Passed to :func:`ctscreen.detect`.

    Returns
    -------
    ctscreen.Report
    """
    import ctscreen as cs

    if isinstance(item, (str, os.PathLike)):
        volume = cs.load(item)
    elif isinstance(item, cs.Volume):
        volume = item
    elif hasattr(item, "objects") and hasattr(item, "voxelize"):
        volume = cs.scan_parcel(item)
    else:
        raise ValueError(f"invalid item: {type(item).__name__} (expected a path, a Volume or a Parcel)")
    return cs.detect(volume, **detect_options)


def screen(items: Iterable[Any], client: Optional[Any] = None, **detect_options) -> List[Any]:
    """Screens many items, one task each, and returns their reports in input order.

    Parameters
    ----------
    items : iterable
        Paths, Volumes or Parcels (see :func:`screen_one`).
    client : dask.distributed.Client, optional
        The cluster to use; ``None`` screens serially in this process.
    **detect_options
        Passed to :func:`ctscreen.detect`.

    Returns
    -------
    list of ctscreen.Report
    """
    items = list(items)
    if client is None:
        return [screen_one(item, **detect_options) for item in items]
    futures = client.map(screen_one, items, pure=False, **detect_options)
    return client.gather(futures)
