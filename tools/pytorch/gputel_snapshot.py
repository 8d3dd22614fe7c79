"""Record a PyTorch CUDA memory snapshot around a few training steps, for `gputel report`.

Two ways to use it:

Hugging Face Trainer (transformers, PEFT, TRL, LLaMA-Factory's trainers)::

    from gputel_snapshot import GputelSnapshotCallback
    trainer = Trainer(..., callbacks=[GputelSnapshotCallback("snapshot.pickle", start_step=1, steps=3)])

A plain loop::

    from gputel_snapshot import record_snapshot
    with record_snapshot("snapshot.pickle"):
        for batch in batches[:3]:
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

Then ``gputel report snapshot.pickle`` writes report.html, report.md, report.png and
summary.json beside it (``snapshot-report/``): memory by category at the exact peak, per phase,
with the lines that allocated it.

Start recording before the model is loaded to have weights named as weights; memory allocated
before recording began is reported as ``before_recording``. Recording every allocation with its
stack slows training while it runs (a few steps are enough); ``max_entries`` bounds the trace.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator, Optional

import torch

__all__ = ["record_snapshot", "start_recording", "dump_and_stop", "GputelSnapshotCallback"]

DEFAULT_MAX_ENTRIES = 1_000_000


def start_recording(max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
    """Starts recording every allocation and free with Python and C++ stacks."""
    if not torch.cuda.is_available():
        raise RuntimeError("gputel_snapshot: CUDA is not available; a memory snapshot records a CUDA device")
    # stacks="all" keeps C++ frames too: autograd runs backward on threads without Python frames,
    # and its C++ frames are what tell backward, gradients and the operator apart.
    torch.cuda.memory._record_memory_history(enabled="all", context="all", stacks="all", max_entries=max_entries)


def dump_and_stop(path: str | os.PathLike[str]) -> str:
    """Writes the snapshot to ``path`` (atomically) and stops recording; returns the path."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        torch.cuda.synchronize()
        torch.cuda.memory._dump_snapshot(temporary)
        os.replace(temporary, path)
    finally:
        torch.cuda.memory._record_memory_history(enabled=None)
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


@contextlib.contextmanager
def record_snapshot(path: str | os.PathLike[str], max_entries: int = DEFAULT_MAX_ENTRIES) -> Iterator[None]:
    """Records the block it wraps and writes the snapshot when it ends, also when it raises
    (an out-of-memory error is then in the snapshot, as an ``oom`` entry)."""
    start_recording(max_entries)
    try:
        yield
    finally:
        dump_and_stop(path)


try:
    from transformers import TrainerCallback
except ImportError:  # Only the plain-loop helpers without transformers.
    TrainerCallback = object  # type: ignore[assignment,misc]


class GputelSnapshotCallback(TrainerCallback):  # type: ignore[misc,valid-type]
    """A Hugging Face ``TrainerCallback`` that records steps ``start_step`` to
    ``start_step + steps - 1`` (counted from 0) and writes the snapshot after them. With
    ``start_step=0`` recording begins at the start of training, after the model is on the device;
    call ``start_recording()`` yourself before ``from_pretrained`` to have the weights named."""

    def __init__(self, path: str | os.PathLike[str] = "snapshot.pickle", start_step: int = 1, steps: int = 3,
                 max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if steps < 1 or start_step < 0:
            raise ValueError("gputel_snapshot: steps must be at least 1 and start_step at least 0")
        self.path = os.fspath(path)
        self.start_step = start_step
        self.steps = steps
        self.max_entries = max_entries
        self._recording = False
        self.written: Optional[str] = None

    def _is_main(self, state) -> bool:
        # One snapshot per run, from the first process (each rank records only its own device).
        return getattr(state, "is_world_process_zero", True)

    def on_step_begin(self, args, state, control, **kwargs):
        if not self._recording and self.written is None and state.global_step == self.start_step and self._is_main(state):
            start_recording(self.max_entries)
            self._recording = True
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if self._recording and state.global_step >= self.start_step + self.steps:
            self.written = dump_and_stop(self.path)
            self._recording = False
        return control

    def on_train_end(self, args, state, control, **kwargs):
        if self._recording:
            self.written = dump_and_stop(self.path)
            self._recording = False
        return control
