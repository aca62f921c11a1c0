"""The history of generated images (Shrivastava et al. 2017), used for discriminator updates.

CycleGAN (Sec. 4) updates D with images drawn from the last 50 generated ones rather than only
the newest, which reduces model oscillation. Once the pool is full, each query returns, with
probability ½, a random stored image (replacing it with the new one) or else the new image.
"""

from __future__ import annotations

import torch


class ImagePool:
    def __init__(self, size: int = 50):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """A batch of the same shape: a mix of `images` and earlier images from the pool."""
        if self.size == 0:
            return images
        self.follow(images)
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(()).item() > 0.5:
                index = int(torch.randint(len(self.images), ()).item())
                out.append(self.images[index].clone())
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state(self) -> torch.Tensor:
        """All stored images as one tensor (0 rows when empty), for the training state."""
        return torch.cat(self.images, 0) if self.images else torch.zeros(0)

    def load_state(self, stacked: torch.Tensor) -> None:
        """Restore `state()`'s images (read from a file: on the CPU; `follow` moves them on the next query)."""
        self.images = [row.unsqueeze(0).clone() for row in stacked] if stacked.numel() else []

    def follow(self, images: torch.Tensor) -> None:
        """Keep the stored images on the device and in the dtype of the generated ones (a resumed GPU
        run restores them on the CPU). Nothing moves when they already match."""
        if self.images and (self.images[0].device != images.device or self.images[0].dtype != images.dtype):
            self.images = [image.to(device=images.device, dtype=images.dtype) for image in self.images]
