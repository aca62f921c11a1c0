"""The training loop's batches, drawn one step ahead on a GPU.

On a GPU the step's kernels run while the host waits, so the next batch (decoded pictures cropped,
flipped and scaled: `data.UnpairedData.batch`) is drawn meanwhile by one worker thread and put in
pinned memory, from which `CycleGANTrainer.to_device` copies it without waiting. A batch's randomness
follows from the step alone (`data.draw_generator`), so the batches are the ones drawn in turn, and
a run trains the same with the worker or without it. On a CPU the worker would only take cores
from the step, so batches are drawn when needed.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import torch

from cyclegan_core.training.data import UnpairedData

Batch = tuple[torch.Tensor, torch.Tensor]


class Batches:
    """`get(step)`: the (A, B) batch of `step`; with `ahead`, step + 1's is drawn meanwhile."""

    def __init__(self, data: UnpairedData, batch_size: int, ahead: bool):
        self.data, self.batch_size = data, batch_size
        self.pin = ahead and torch.cuda.is_available()
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="cyclegan-batches") if ahead else None
        self._next: tuple[int, Future] | None = None

    def _draw(self, step: int) -> Batch:
        a, b = self.data.batch(self.batch_size, step)
        return (a.pin_memory(), b.pin_memory()) if self.pin else (a, b)

    def get(self, step: int) -> Batch:
        if self._next is not None and self._next[0] == step:
            batch = self._next[1].result()
        else:
            batch = self._draw(step)
        if self._worker is not None:
            self._next = (step + 1, self._worker.submit(self._draw, step + 1))
        return batch

    @property
    def drawing(self) -> int | None:
        """The step whose batch is being drawn ahead, or None."""
        return self._next[0] if self._next is not None else None

    @property
    def running(self) -> bool:
        """Whether the worker is there (until `close`)."""
        return self._worker is not None

    def close(self) -> None:
        """Ends the worker (a batch being drawn is finished and dropped)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker, self._next = None, None
