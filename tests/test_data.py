import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan_core import DataError
from cyclegan_core.training.data import UnpairedData, load_domain


def write_images(folder, count, size=(40, 30), colour=(200, 30, 30)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", size, colour).save(folder / f"img{i}.png")


def png_bytes(size=(40, 30), colour=(0, 0, 255)):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_folder_is_searched_recursively_and_junk_is_counted(tmp_path):
    write_images(tmp_path / "a", 2)
    write_images(tmp_path / "a" / "nested" / "deeper", 1)
    (tmp_path / "a" / "notes.txt").write_text("hello")
    (tmp_path / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (tmp_path / "a" / ".DS_Store").write_bytes(b"\x00")
    domain = load_domain(tmp_path / "a", "A", load_size=36)
    assert len(domain.images) == 3
    assert sorted(domain.files) == ["img0.png", "img1.png", "nested/deeper/img0.png"]
    reasons = dict(domain.skipped)
    assert reasons["notes.txt"] == "not an image" and reasons["broken.jpg"].startswith("unreadable")
    assert domain.summary() == "A: 3 image(s), skipped 2 (1 not an image, 1 unreadable)"


def test_images_are_resized_on_the_shorter_side_and_oriented(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    Image.new("RGB", (200, 100)).save(folder / "wide.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    Image.new("RGB", (120, 60)).save(folder / "phone.jpg", exif=exif.tobytes())
    Image.new("L", (50, 100)).save(folder / "gray.png")
    domain = load_domain(folder, "A", load_size=40)
    sizes = dict(zip(domain.files, (im.size for im in domain.images)))
    assert sizes == {"wide.png": (80, 40), "phone.jpg": (40, 80), "gray.png": (40, 80)}
    assert all(im.mode == "RGB" for im in domain.images)


def test_zip_file_is_read_in_place(tmp_path):
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("photos/one.png", png_bytes())
        z.writestr("photos/two.png", png_bytes(colour=(0, 255, 0)))
        z.writestr("photos/readme.txt", "hi")
        z.writestr("__MACOSX/photos/._one.png", b"resource fork")
    domain = load_domain(path, "B", load_size=30)
    assert domain.files == ["b.zip:photos/one.png", "b.zip:photos/two.png"]
    assert domain.skipped == [("b.zip:photos/readme.txt", "not an image")]


def test_zip_slip_and_absolute_members_are_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok.png", png_bytes())
        z.writestr("../../escape.png", png_bytes())
        z.writestr("/etc/abs.png", png_bytes())
        z.writestr("C:/windows/drive.png", png_bytes())
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (0o120777 << 16)
        z.writestr(link, "/etc/passwd")
    before = set(tmp_path.parent.rglob("*"))
    domain = load_domain(path, "A", load_size=30)
    assert domain.files == ["evil.zip:ok.png"]
    reasons = dict(domain.skipped)
    assert reasons["evil.zip:../../escape.png"] == "refused: path leaves the zip folder (..)"
    assert reasons["evil.zip:/etc/abs.png"] == "refused: absolute path in zip"
    assert reasons["evil.zip:C:/windows/drive.png"] == "refused: absolute path in zip"
    assert reasons["evil.zip:link.png"] == "refused: symbolic link in zip"
    assert set(tmp_path.parent.rglob("*")) == before  # nothing extracted anywhere


def test_zip_bomb_member_is_refused(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("ok.png", png_bytes())
        z.writestr("huge.png", b"\x00" * (50 * 2**20))  # 50 MiB of zeros compresses ~1000×
    domain = load_domain(path, "A", load_size=30)
    assert dict(domain.skipped)["bomb.zip:huge.png"] == "refused: compression ratio of a zip bomb"


def test_not_a_zip_and_missing_source(tmp_path):
    (tmp_path / "x.zip").write_text("not a zip")
    with pytest.raises(DataError, match="neither a folder nor a zip"):
        load_domain(tmp_path / "x.zip", "A", 30)
    with pytest.raises(DataError, match="does not exist"):
        load_domain(tmp_path / "nothing", "A", 30)


def test_empty_domain_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match=r"domain B: 0 usable image\(s\) in .*empty, at least 1 needed "
                                        r"\(B: 0 image\(s\), skipped 1 \(1 not an image\)\)"):
        load_domain(tmp_path / "empty", "B", 30)
    write_images(tmp_path / "two", 2)
    with pytest.raises(DataError, match="2 usable image"):
        load_domain(tmp_path / "two", "B", 30, min_images=3)


def test_list_of_files_and_max_images(tmp_path):
    write_images(tmp_path / "a", 4)
    files = sorted((tmp_path / "a").iterdir())
    domain = load_domain(files[:3] + [tmp_path / "missing.png"], "A", 30, max_images=2)
    assert len(domain.images) == 2
    assert [reason for _, reason in domain.skipped] == ["over the limit of 2 images per domain",
                                                        "over the limit of 2 images per domain"]


def test_unpaired_batches_are_random_crops_in_range(tmp_path):
    write_images(tmp_path / "a", 1, size=(60, 40), colour=(255, 0, 0))
    write_images(tmp_path / "b", 3, size=(40, 40), colour=(0, 0, 255))
    data = UnpairedData(load_domain(tmp_path / "a", "A", 36), load_domain(tmp_path / "b", "B", 36), crop_size=32)
    assert len(data) == 3
    a, b = data.batch(4)
    assert a.shape == b.shape == (4, 3, 32, 32)
    assert torch.allclose(a[:, 0], torch.ones(1)) and torch.allclose(a[:, 2], -torch.ones(1))
    assert torch.allclose(b[:, 2], torch.ones(1))


def test_crops_and_flips_vary_and_follow_the_seed(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)).save(folder / "n.png")
    domain = load_domain(folder, "A", 50)
    data = UnpairedData(domain, domain, crop_size=32, seed=1)
    first = data.batch(3, step=5)[0]
    torch.manual_seed(123)  # the global generator (the history pools') plays no part
    assert torch.equal(data.batch(3, step=5)[0], first)  # a step's batch follows from (seed, step) alone
    assert not torch.equal(first[0], first[1]) or not torch.equal(first[1], first[2])
    assert not torch.equal(data.batch(3, step=6)[0], first)  # another step, other crops
    assert not torch.equal(UnpairedData(domain, domain, crop_size=32, seed=2).batch(3, step=5)[0], first)
    crops = torch.stack([data.batch(1, step=k)[0][0] for k in range(40)])
    assert len({c.numpy().tobytes() for c in crops}) > 30  # 40 steps: crops and flips vary
    x = np.asarray(Image.open(folder / "n.png").convert("RGB").resize((70, 50)), dtype=np.float32) / 127.5 - 1
    assert all(window_found(c, x) for c in crops[:6]), "each crop is a window of the picture, maybe mirrored"


def window_found(crop: torch.Tensor, picture: np.ndarray) -> bool:
    """Whether the 3×h×w `crop` is a window of the H×W×3 `picture`, as it is or mirrored left-right."""
    h, w = crop.shape[-2:]
    target = crop.permute(1, 2, 0).numpy()
    for flipped in (target, target[:, ::-1]):
        for top in range(picture.shape[0] - h + 1):
            for left in range(picture.shape[1] - w + 1):
                if np.abs(picture[top:top + h, left:left + w] - flipped).max() < 1e-5:
                    return True
    return False


def test_a_picture_smaller_than_the_crop_is_reflection_padded(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(folder / "s.png")
    domain = load_domain(folder, "A", 20)
    a, _ = UnpairedData(domain, domain, crop_size=32).batch(2, step=0)
    assert a.shape == (2, 3, 32, 32) and a.min() >= -1 and a.max() <= 1
