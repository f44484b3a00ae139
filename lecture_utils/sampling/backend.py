"""Checkpoints of an ensemble chain: an in-memory emcee backend written to ``.npz``."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import emcee
import numpy as np

__all__ = ["NpzBackend", "open_backend"]


class NpzBackend(emcee.backends.Backend):
    """An emcee backend kept in memory and written to a ``.npz`` file by :meth:`save`.

    Holds what emcee needs to continue a chain exactly: positions, log probabilities, accepted
    counts, iteration and the state of emcee's random generator, plus a ``key`` identifying the
    run (a run with another key refuses to resume from it). Writes are atomic (temporary file,
    then rename). Use :func:`run_ensemble` with ``backend_path="….npz"``.
    """

    def __init__(self, path: str | Path, key: str = "") -> None:
        super().__init__()
        self.path = Path(path)
        self.key = key

    @classmethod
    def load(cls, path: str | Path) -> NpzBackend:
        """Read a checkpoint written by :meth:`save`."""
        path = Path(path)
        with np.load(path, allow_pickle=False) as f:
            b = cls(path, str(f["key"]))
            chain = np.asarray(f["chain"], dtype=float)
            b.reset(chain.shape[1], chain.shape[2])
            b.chain = chain
            b.log_prob = np.asarray(f["log_prob"], dtype=float)
            b.accepted = np.asarray(f["accepted"], dtype=float)
            b.iteration = int(f["iteration"])
            b.random_state = (str(f["rs_name"]), np.asarray(f["rs_keys"], dtype=np.uint32),
                              int(f["rs_pos"]), int(f["rs_has_gauss"]),
                              float(f["rs_cached_gaussian"]))
        if b.iteration != len(b.chain):
            raise ValueError(f"checkpoint {path} is inconsistent (iteration {b.iteration}, "
                             f"{len(b.chain)} stored steps)")
        return b

    def save(self) -> Path:
        """Write the chain so far to :attr:`path` (atomically)."""
        if self.iteration < 1 or self.random_state is None:
            raise ValueError("nothing to checkpoint: the chain has no steps yet")
        name, keys, pos, has_gauss, cached = self.random_state
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp.npz")
        np.savez(tmp, key=np.asarray(self.key), chain=self.chain[: self.iteration],
                 log_prob=self.log_prob[: self.iteration], accepted=self.accepted,
                 iteration=np.asarray(self.iteration), rs_name=np.asarray(name),
                 rs_keys=np.asarray(keys, dtype=np.uint32), rs_pos=np.asarray(pos),
                 rs_has_gauss=np.asarray(has_gauss), rs_cached_gaussian=np.asarray(cached))
        os.replace(tmp, self.path)
        return self.path


def open_backend(path: str | Path, key: str, shape: tuple[int, int]) -> tuple[Any, bool]:
    """The checkpoint backend of a run and whether it resumes a stored chain.

    Parameters
    ----------
    path : str or Path
        ``.h5``/``.hdf5`` → emcee's HDFBackend (needs h5py), anything else → :class:`NpzBackend`.
    key : str
        Identifies the run; an existing ``.npz`` checkpoint with another key is refused.
    shape : (int, int)
        (walkers, dim) of the run.

    Returns
    -------
    (backend, bool)
        The backend and True if it holds steps of the chain to continue.

    Raises
    ------
    ValueError
        If h5py is missing for an HDF5 path, or the checkpoint has another key or shape.
    """
    path = Path(path)
    if path.suffix in (".h5", ".hdf5"):
        try:
            import h5py  # noqa: F401
        except ImportError:
            raise ValueError(f"checkpoint {path}: HDF5 checkpoints need the package h5py, which "
                             "is not installed; use a .npz path instead") from None
        backend = emcee.backends.HDFBackend(str(path), name=f"mcmc-{key[:16]}")
        resumed = path.exists() and backend.initialized and backend.iteration > 0
        if resumed and backend.shape != shape:
            raise ValueError(f"checkpoint {path} holds {backend.shape} (walkers, dim), not {shape}")
        return backend, resumed
    if path.exists():
        backend = NpzBackend.load(path)
        if backend.key != key:
            raise ValueError(f"checkpoint {path} was written by a different run (other settings, "
                             "seed, prior or surrogate); delete it or choose another path")
        if backend.shape != shape:
            raise ValueError(f"checkpoint {path} holds {backend.shape} (walkers, dim), not {shape}")
        return backend, True
    return NpzBackend(path, key), False
