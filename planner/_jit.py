"""Small compiled helpers shared by the numba kernels, written to compile fast.

A few numpy idioms cost seconds to compile the first time a process meets them, and a first run
after an install meets them all: ``dst[:] = src`` (numba's array-to-array ``setitem`` machinery,
≈ 2.6 s), ``np.argsort`` (its quicksort, ≈ 1.7 s per dtype).  These loops do the same work and
compile in a fraction of a second (measured in docs/BENCHMARKS.md, "First run after an install").
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def copy_into(dst, src):
    """``dst[:len(src)] = src`` element by element."""
    for i in range(src.shape[0]):
        dst[i] = src[i]


@njit(cache=True, nogil=True)
def grown(arr, needed):
    """``arr`` if it holds ``needed`` items, else a copy of it at least twice as long."""
    if needed <= arr.shape[0]:
        return arr
    size = needed if needed > 2 * arr.shape[0] else 2 * arr.shape[0]
    new = np.empty(size, arr.dtype)
    copy_into(new, arr)
    return new


@njit(cache=True, nogil=True)
def argsort_stable(keys):
    """Indices that sort ``keys`` ascending; equal keys keep their order (bottom-up merge sort).

    For a descending order with ties by position, sort ``-keys``.
    """
    n = keys.shape[0]
    order = np.arange(n)
    buffer = np.empty(n, np.int64)
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if keys[order[j]] < keys[order[i]]:
                    buffer[k] = order[j]
                    j += 1
                else:
                    buffer[k] = order[i]
                    i += 1
                k += 1
            while i < mid:
                buffer[k] = order[i]
                i += 1
                k += 1
            while j < hi:
                buffer[k] = order[j]
                j += 1
                k += 1
        order, buffer = buffer, order
        width *= 2
    return order
