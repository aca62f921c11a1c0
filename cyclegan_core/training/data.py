"""Unpaired training data: two domains, each a folder (searched recursively), a zip file, or a
list of files. Nothing needs to be paired or equally many (that is the point of CycleGAN).

Images are decoded once, upright and RGB, with the shorter side resized to `load_size`, and kept
in memory; each step draws a random crop and flip (torchvision transforms v2), reference style,
from a generator of its own seeded by the run's seed, the rank and the step, so a batch can be
drawn ahead of its step (`batches.Batches`, on a GPU) and a resume draws the same batches.
Zip files are read in place, never extracted: members with absolute or parent-relative paths
and links are refused, and size/count limits stop zip bombs. Unusable files are skipped and
counted with a reason; a domain with too few usable images is a clear error.
"""

from __future__ import annotations

import math
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator, Sequence, Union

import torch
from PIL import Image

from cyclegan_core.engine.images import IMAGE_SUFFIXES, load_image
from cyclegan_core.errors import DataError, ImageError

MAX_ZIP_MEMBERS = 20_000
MAX_MEMBER_BYTES = 200 * 2**20  # one image, uncompressed
MAX_ZIP_BYTES = 4 * 2**30  # all members, uncompressed
MAX_RATIO = 200  # compression ratio beyond which a large member is treated as a bomb

Source = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]]


@dataclass
class Domain:
    """One domain's usable images (resized, in memory) and what was skipped, with reasons."""

    name: str
    images: list[Image.Image] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.name}: {len(self.images)} image(s)"
        if self.skipped:
            reasons: dict[str, int] = {}
            for _, reason in self.skipped:
                key = reason.split(":")[0]
                reasons[key] = reasons.get(key, 0) + 1
            text += f", skipped {len(self.skipped)} (" + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) + ")"
        return text


def load_domain(source: Source, name: str, load_size: int, min_images: int = 1,
                max_images: int = 2000) -> Domain:
    """Read every image of one domain; raise DataError if fewer than `min_images` are usable."""
    domain = Domain(name)
    for label, read in _entries(source, domain):
        if len(domain.images) >= max_images:
            domain.skipped.append((label, f"over the limit of {max_images} images per domain"))
            continue
        try:
            image = load_image(read(), reduce_to=load_size)
        except ImageError as e:
            domain.skipped.append((label, f"unreadable: {str(e).split(': ', 1)[-1]}"))
            continue
        domain.images.append(resize_shorter_side(image, load_size))
        domain.files.append(label)
    if len(domain.images) < min_images:
        where = source if isinstance(source, (str, os.PathLike)) else f"{len(source)} given file(s)"
        raise DataError(f"domain {name}: {len(domain.images)} usable image(s) in {where}, at least {min_images} "
                        f"needed" + (f" ({domain.summary()})" if domain.skipped else ""))
    return domain


def resize_shorter_side(image: Image.Image, size: int) -> Image.Image:
    from torchvision.transforms import v2  # imported here: torchvision loads torch._dynamo (seconds)

    return v2.functional.resize(image, size, antialias=True)


def _entries(source: Source, domain: Domain) -> Iterator[tuple[str, callable]]:
    """(label, read) per candidate image; non-images and unsafe members go to domain.skipped."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            yield from _files(files, domain, root=path)
        elif path.is_file() and zipfile.is_zipfile(path):
            yield from _zip(path, domain)
        elif path.is_file():
            raise DataError(f"domain {domain.name}: {path} is neither a folder nor a zip file")
        else:
            raise DataError(f"domain {domain.name}: {path} does not exist")
    else:
        yield from _files([Path(p) for p in source], domain, root=None)


def _files(files: list[Path], domain: Domain, root: Path | None):
    for path in files:
        label = str(path.relative_to(root)) if root else str(path)
        if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
            yield from _zip(path, domain)
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            domain.skipped.append((label, "not an image"))
        else:
            yield label, (lambda p=path: p)


def _zip(path: Path, domain: Domain):
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"domain {domain.name}: {path.name} is not a readable zip file ({e})") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            raise DataError(f"domain {domain.name}: {path.name} holds {len(members)} files, more than the "
                            f"{MAX_ZIP_MEMBERS} allowed")
        if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise DataError(f"domain {domain.name}: {path.name} unpacks to more than {MAX_ZIP_BYTES >> 30} GiB")
        for member in members:
            label = f"{path.name}:{member.filename}"
            reason = _unsafe(member)
            if reason:
                domain.skipped.append((label, reason))
            elif PurePosixPath(member.filename).name.startswith(".") or "__MACOSX/" in member.filename:
                continue  # macOS resource forks and hidden files: not content
            elif PurePosixPath(member.filename).suffix.lower() not in IMAGE_SUFFIXES:
                domain.skipped.append((label, "not an image"))
            else:
                yield label, (lambda m=member: _read_member(archive, m))


def _unsafe(member: zipfile.ZipInfo) -> str | None:
    name = member.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "refused: absolute path in zip"
    if ".." in parts:
        return "refused: path leaves the zip folder (..)"
    if stat.S_ISLNK(member.external_attr >> 16):
        return "refused: symbolic link in zip"
    if member.file_size > MAX_MEMBER_BYTES:
        return f"refused: larger than {MAX_MEMBER_BYTES >> 20} MiB unpacked"
    if member.file_size > 2**20 and member.file_size > MAX_RATIO * max(member.compress_size, 1):
        return "refused: compression ratio of a zip bomb"
    return None


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    with archive.open(member) as f:
        data = f.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise ImageError("larger than its declared size")
    return data


def sharded_picks(n: int, batch_size: int, step: int, rank: int, world_size: int, seed: int,
                  salt: int = 0) -> list[int]:
    """Indices of batch `step` for `rank`: position k = step × batch_size + i of this rank's stream
    is element rank + j × world_size (j = k mod ⌈n / world_size⌉) of epoch k // ⌈n / world_size⌉'s
    shuffled order, padded by repetition to a multiple of world_size (DistributedSampler's rule)."""
    per_rank = math.ceil(n / world_size)
    picks, orders = [], {}
    for k in range(step * batch_size, (step + 1) * batch_size):
        epoch, j = divmod(k, per_rank)
        if epoch not in orders:
            generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch * 2 + salt)
            order = torch.randperm(n, generator=generator)
            orders[epoch] = order.repeat(math.ceil(per_rank * world_size / n))[: per_rank * world_size]
        picks.append(int(orders[epoch][rank + j * world_size]))
    return picks


def draw_generator(seed: int, rank: int, step: int, which: int) -> torch.Generator:
    """The generator of batch `step`'s draws for domain `which` (0: A, 1: B) on `rank`: a function
    of these alone, never of what ran before (torch's global generator serves the history pools)."""
    key = ((seed * 1_000_003 + rank) * 1_000_000_007 + step) * 2 + which
    return torch.Generator().manual_seed(key % (2**63 - 1))


class UnpairedData:
    """Random unpaired batches: A and B drawn independently, with replacement (so the sizes may
    differ), each through random crop + horizontal flip, scaled to [-1, 1]. A batch's randomness
    follows from (seed, rank, step) alone (`draw_generator`): drawing one ahead changes nothing,
    and a resumed run draws what an uninterrupted one would, with no state to save."""

    def __init__(self, a: Domain, b: Domain, crop_size: int, seed: int = 0):
        self.a, self.b, self.crop_size, self.seed = a, b, crop_size, seed
        self.sharding: tuple[int, int, int] | None = None  # (rank, world size, seed) in a distributed run

    def __len__(self) -> int:
        """Steps per epoch at batch size 1, as in the reference: the larger domain's size."""
        return max(len(self.a.images), len(self.b.images))

    def shard(self, rank: int, world_size: int, seed: int) -> None:
        """Distributed training: each rank draws its own part of every epoch, as torch's
        DistributedSampler does (one shuffled order per epoch, seeded, dealt out rank by rank), so
        the ranks see different images and an epoch covers each domain once over all of them. Which
        images a step draws follows from the step alone, so a run resumes with any number of ranks."""
        self.sharding = (rank, world_size, seed)

    def batch(self, batch_size: int, step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of each domain (`step`: the index of this batch in the run, for a sharded draw)."""
        return self._draw(self.a, batch_size, step, 0), self._draw(self.b, batch_size, step, 1)

    def _draw(self, domain: Domain, batch_size: int, step: int, which: int) -> torch.Tensor:
        generator = draw_generator(self.seed, self.sharding[0] if self.sharding else 0, step, which)
        if self.sharding is None:
            picks = torch.randint(len(domain.images), (batch_size,), generator=generator).tolist()
        else:
            picks = sharded_picks(len(domain.images), batch_size, step, *self.sharding, salt=which)
        return torch.stack([self.crop_and_flip(domain.images[i], generator) for i in picks])

    def crop_and_flip(self, image: Image.Image, generator: torch.Generator) -> torch.Tensor:
        """A random `crop_size`² crop (reflection-padded where the image is smaller, as v2.RandomCrop's
        `pad_if_needed`), flipped left-right half the time, in [-1, 1]: the reference's augmentation."""
        from torchvision.transforms.v2 import functional as F  # imported here: torchvision loads torch._dynamo

        x, size = F.to_image(image), self.crop_size
        height, width = x.shape[-2:]
        pad_x, pad_y = max(0, size - width), max(0, size - height)
        if pad_x or pad_y:
            x = F.pad(x, [pad_x, pad_y, pad_x, pad_y], padding_mode="reflect")
            height, width = x.shape[-2:]
        top = int(torch.randint(height - size + 1, (), generator=generator))
        left = int(torch.randint(width - size + 1, (), generator=generator))
        x = F.crop(x, top, left, size, size)
        if float(torch.rand((), generator=generator)) < 0.5:
            x = F.horizontal_flip(x)
        return F.normalize(F.to_dtype(x, torch.float32, scale=True), [0.5] * 3, [0.5] * 3)

    def preview_pair(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first image of each domain, centre-cropped: fixed inputs to watch learning progress."""
        from torchvision.transforms import v2

        crop = v2.Compose([v2.ToImage(), v2.CenterCrop(size), v2.ToDtype(torch.float32, scale=True),
                           v2.Normalize([0.5] * 3, [0.5] * 3)])
        return crop(self.a.images[0]).unsqueeze(0), crop(self.b.images[0]).unsqueeze(0)
