"""Compile the numba kernels of a first run ahead of time, on both cores, while the run starts up.

A first run after an install spends most of its time compiling kernels (numba, cached on disk
afterwards).  ``python -m planner.warmup`` compiles them, in the order a run meets them (travel
costs, then the covering and median searches), for the exact argument types the planner passes;
each lands in numba's on-disk cache, where the run that needs it loads it instead of compiling
it.  The CLI (``planner demo``, ``serve``, ``plan``…) starts it before its own imports, in two
processes when kernels are missing (none when all are cached); the run's first call of a kernel
still being compiled waits for it.  The compiling thus runs on both cores beside the run's
imports, region loading and first steps, and no kernel is compiled twice.

The signatures must match the calls: ``tests/test_warmup.py`` runs the sample region's plans and
checks that every signature the kernels were called with is listed here.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from numba import types

I64, F64, I8, BOOL = types.int64, types.float64, types.int8, types.boolean


def _a(dtype: types.Type, ndim: int = 1, readonly: bool = False) -> types.Array:
    return types.Array(dtype, ndim, "C", readonly=readonly)


_GRAPH = (_a(I64), _a(I64), _a(F64))  # CSR indptr, heads, weights
_COVER = (_a(I64), _a(I64))  # CSC column pointers, demand rows
_UNITS = (_a(I64, 2), _a(F64, 2), _a(F64, 2))  # unit of each site per level, minimums, maximums

KERNELS: list[tuple[str, str, tuple[types.Type, ...], float]] = [
    # coverage within a cutoff (the region's travel costs), then single routes (the patrols run first)
    ("planner.travel._dijkstra", "bounded_to_targets", (*_GRAPH, I64, _a(I64), _a(F64), F64, _a(I64), _a(F64)), 2.5),
    ("planner.travel._dijkstra", "single_source", (*_GRAPH, I64, I64, F64, F64, I64), 1.2),
    # maximal covering (weights as the region holds them: read-only), nearest sites for the plans' explanation
    ("planner.location._cover_kernels", "covered_weight", (*_COVER, _a(F64, readonly=True), _a(BOOL)), 0.4),
    ("planner.location._cover_kernels", "greedy",
     (*_COVER, _a(F64, readonly=True), _a(I8), _a(BOOL), _a(F64, readonly=True), I64, F64, *_UNITS), 3.7),
    ("planner.location._cover_kernels", "swap_simple", (*_COVER, _a(I64), _a(I64), _a(F64, readonly=True), _a(BOOL), _a(BOOL), I64), 1.8),
    ("planner.travel._dijkstra", "k_nearest_sources", (*_GRAPH, I64, _a(I64), _a(F64), I64, F64, _a(I64), _a(F64), I64), 2.3),
    ("planner.location._cover_kernels", "swap",
     (*_COVER, _a(I64), _a(I64), _a(F64, readonly=True), _a(BOOL), _a(I8), _a(BOOL), _a(F64, readonly=True), F64, *_UNITS, I64), 2.8),
    ("planner.location._cover_kernels", "cover_counts", (*_COVER, _a(BOOL), I64), 0.1),
    # Lagrangian bounds of covering models too large for an exact MIP (not the sample's)
    ("planner.location._cover_kernels", "mclp_subgradient",
     (*_COVER, _a(F64, readonly=True), _a(F64), _a(I8), _a(BOOL), I64, F64, I64, F64, I64), 2.6),
]
"""(module, kernel, argument types, seconds to compile it in a fresh process on the 2-core
reference machine, measured), in the order a first run calls them."""

PROCESSES = 2
"""Warm-up processes at most: the kernels are split between them (on 2 cores the run itself
meanwhile imports its libraries and loads its region, and then mostly waits for kernels)."""

KERNEL_WAIT_S = 120.0
"""A run waits at most this long for a kernel a warm-up process is compiling, then compiles it itself."""

_running: list[tuple[subprocess.Popen, threading.Thread]] = []
"""Warm-up processes this process started, each with the thread reading its progress."""
_compiled: dict[int, threading.Event] = {}


def _kernel(index: int):
    module, name, _, _ = KERNELS[index]
    return getattr(importlib.import_module(module), name)


def is_cached(index: int) -> bool:
    """True when numba's on-disk cache holds kernel ``index`` for its signature (False if unsure)."""
    try:
        cached = _kernel(index)._cache._cache_file._load_index()  # numba internals: {(argument types, machine, hashes): file}
    except Exception:  # noqa: BLE001 - any doubt means "compile it"
        return False
    return any(key[0] == KERNELS[index][2] for key in cached)


def split(indices: list[int], parts: int) -> list[list[int]]:
    """Deal ``indices`` (in the order a run needs them) to ``parts`` lists of about equal compile time."""
    loads = [0.0] * parts
    out: list[list[int]] = [[] for _ in range(parts)]
    for i in indices:
        lightest = loads.index(min(loads))
        out[lightest].append(i)
        loads[lightest] += KERNELS[i][3]
    return [part for part in out if part]


def compile_kernels(indices: list[int] | None = None) -> Iterator[int]:
    """Compile (or load from numba's cache) the kernels ``indices`` of :data:`KERNELS` (default all); yields each index when done."""
    for i in range(len(KERNELS)) if indices is None else indices:
        _kernel(i).compile(KERNELS[i][2])
        yield i


def _hold_first_call(index: int) -> None:
    """Make the run's first call of kernel ``index`` wait until the warm-up has cached it.

    The dispatcher's ``_compile_for_args`` (numba calls it when a call's types have no compiled
    code in this process) waits for the kernel's event, then hands over to numba, which loads
    the code the warm-up cached (or compiles it, if the warm-up failed or took too long).
    """
    kernel = _kernel(index)
    original = kernel._compile_for_args
    done = _compiled[index]

    def first_call(*args, **kwargs):
        done.wait(KERNEL_WAIT_S)
        kernel.__dict__.pop("_compile_for_args", None)
        return original(*args, **kwargs)

    kernel._compile_for_args = first_call


def _read_progress(process: subprocess.Popen, part: list[int]) -> None:
    for line in process.stdout:
        if line.strip().isdigit() and int(line) in _compiled:
            _compiled[int(line)].set()
    for i in part:  # ended (done, failed or killed): nothing more to wait for
        _compiled[i].set()


def start_in_background(kernels: list[int] | None = None) -> list[subprocess.Popen]:
    """Compile the kernels (indices into :data:`KERNELS`, default all) not cached yet in up to
    :data:`PROCESSES` child processes.

    Nothing is started when ``PLANNER_WARMUP=0``, when every kernel is cached, or when this
    process started them already.  Until a kernel is cached, this process's first call of it
    waits for it (instead of compiling it a second time on the same cores).
    """
    if _running or os.environ.get("PLANNER_WARMUP", "1") == "0":
        return [process for process, _ in _running]
    missing = [i for i in (range(len(KERNELS)) if kernels is None else kernels) if not is_cached(i)]
    for part in split(missing, PROCESSES):
        for i in part:
            _compiled[i] = threading.Event()
            _hold_first_call(i)
        process = subprocess.Popen([sys.executable, "-m", "planner.warmup", *map(str, part)], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        reader = threading.Thread(target=_read_progress, args=(process, part), name="kernel-warmup", daemon=True)
        reader.start()
        _running.append((process, reader))
    return [process for process, _ in _running]


def pending() -> bool:
    """True while warm-up processes started by this process are still compiling."""
    return any(process.poll() is None for process, _ in _running)


def wait(timeout_s: float = KERNEL_WAIT_S) -> None:
    """Wait for every warm-up process (at most ``timeout_s`` in all) — before forking workers,
    which must not inherit a kernel still held for a warm-up they cannot hear from."""
    deadline = time.monotonic() + timeout_s
    for process, reader in _running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join()
    _running.clear()


if __name__ == "__main__":
    for done in compile_kernels([int(a) for a in sys.argv[1:]] or None):
        print(done, flush=True)
