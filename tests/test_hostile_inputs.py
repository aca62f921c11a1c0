"""A corpus of hostile and broken inputs, generated here (no stored binaries), through the Python API,
the CLI and the app's public endpoints. Each gets a specific, traceback-free answer, and the app keeps
serving (a good translation follows every bad request)."""

import io
import json
import pickle
import stat
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from cyclegan_core import DataError, ImageError, ModelFormatError, load_image, load_model
from cyclegan_core.model.convert import read_generator_pth
from cyclegan_core.training.data import load_domain
from conftest import ROOT

RNG = np.random.default_rng(7)


def encoded(fmt: str, size=(40, 30), mode="RGB", **options) -> bytes:
    image = Image.fromarray(RNG.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG header claiming width×height, with almost no pixel data: a decompression bomb's shape."""
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))


def gif_header_only(width: int, height: int) -> bytes:
    """A real 1×1 GIF whose screen and image descriptor claim width×height."""
    buffer = io.BytesIO()
    Image.new("P", (1, 1)).save(buffer, "GIF")
    data = bytearray(buffer.getvalue())
    data[6:10] = struct.pack("<HH", width, height)
    descriptor = data.index(b"\x2c", 13)
    data[descriptor + 5:descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (24, 16), colour) for colour in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded("JPEG", size=(40, 20), exif=exif.tobytes())


def huge_metadata() -> bytes:
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * 2_000_000)
    return encoded("PNG", pnginfo=info)


def palette_with_transparency() -> bytes:
    image = Image.new("P", (20, 10))
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.info["transparency"] = 0
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    return buffer.getvalue()


def png16_rgb() -> bytes:
    rows = b"".join(b"\x00" + (np.full((8, 3), 40000, dtype=">u2")).tobytes() for _ in range(6))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 6, 16, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


# name → (bytes, expected size (W, H) or the error it must give)
IMAGES = {
    "truncated.jpg": (encoded("JPEG")[:300], "truncated or corrupt"),
    "truncated.png": (encoded("PNG")[:200], "truncated or corrupt"),
    "truncated.webp": (encoded("WEBP")[:60], "truncated or corrupt|not an image file"),
    "truncated.gif": (encoded("GIF")[:40], "truncated or corrupt|not an image file"),
    "empty.png": (b"", "not an image file"),
    "empty.jpg": (b"", "not an image file"),
    "text.jpg": (b"just some words, not a picture", "not an image file"),
    "page.webp": (b"<html><body>hello</body></html>", "not an image file"),
    "bomb.png": (png_header_only(100_000, 100_000), "far too large to open safely"),
    "big.png": (png_header_only(9_000, 9_000), "81.0 MP, above the limit of 50.0 MP"),
    "bomb.gif": (gif_header_only(65_535, 65_535), "far too large to open safely"),
    "strip-1x300.png": (encoded("PNG", size=(1, 300)), (1, 300)),
    "strip-300x1.png": (encoded("PNG", size=(300, 1)), (300, 1)),
    "aspect-2x1200.png": (encoded("PNG", size=(2, 1200)), (2, 1200)),
    "gray16.png": (encoded("PNG", mode="I;16"), (40, 30)),
    "rgb16.png": (png16_rgb(), (8, 6)),
    "cmyk.jpg": (encoded("JPEG", mode="CMYK"), (40, 30)),
    "palette-transparent.png": (palette_with_transparency(), (20, 10)),
    "animated.gif": (animated("GIF"), (24, 16)),
    "animated.webp": (animated("WEBP"), (24, 16)),
    "exif-rotated.jpg": (exif_rotated(), (20, 40)),
    "huge-metadata.png": (huge_metadata(), (40, 30)),
    "bilevel.bmp": (encoded("BMP", mode="1"), (40, 30)),
}


@pytest.mark.parametrize("name", IMAGES)
def test_images_through_the_python_api(name, tiny_model, tmp_path):
    data, expected = IMAGES[name]
    path = tmp_path / name
    path.write_bytes(data)
    if isinstance(expected, tuple):
        assert load_image(path).size == expected
        out = tiny_model.translate(path, "AtoB", max_pixels=50_000_000)
        assert out.size == expected and out.mode == "RGB"
    else:
        with pytest.raises(ImageError, match=expected):
            tiny_model.translate(path, "AtoB", max_pixels=50_000_000)
        with pytest.raises(ImageError, match=expected):
            load_image(data, max_pixels=50_000_000)  # the same, as uploaded bytes


# --- training data: zips and folders --------------------------------------------------------------

def zip_with(tmp_path, name, members):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for member in members:
            if isinstance(member, zipfile.ZipInfo):
                z.writestr(member, b"/etc/passwd")
            else:
                z.writestr(*member)
    return path


def symlink_member(name):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


GOOD = encoded("PNG", size=(48, 40))
ZIPS = {
    "traversal": ([("../../evil.png", GOOD), ("ok.png", GOOD)], 1, "refused: path leaves the zip folder"),
    "absolute": ([("/tmp/evil.png", GOOD), ("ok.png", GOOD)], 1, "refused: absolute path in zip"),
    "windows-absolute": ([("C:/evil.png", GOOD), ("ok.png", GOOD)], 1, "refused: absolute path in zip"),
    "symlink": ([symlink_member("link.png"), ("ok.png", GOOD)], 1, "refused: symbolic link in zip"),
    "nested-zip": ([("inner.zip", b"PK\x05\x06" + b"\x00" * 18), ("ok.png", GOOD)], 1, "not an image"),
    "ratio-bomb": ([("bomb.png", b"\x00" * (8 << 20)), ("ok.png", GOOD)], 1, "compression ratio of a zip bomb"),
    "corrupt-member": ([("broken.jpg", b"\xff\xd8\xff" + b"\x00" * 50), ("ok.png", GOOD)], 1, "unreadable"),
}


@pytest.mark.parametrize("case", ZIPS)
def test_hostile_zips_are_read_in_place_and_explained(case, tmp_path):
    members, usable, reason = ZIPS[case]
    domain = load_domain(zip_with(tmp_path, f"{case}.zip", members), "A", load_size=36)
    assert len(domain.images) == usable
    assert any(reason in why for _, why in domain.skipped), domain.skipped
    assert not (tmp_path / "evil.png").exists() and not (tmp_path.parent / "evil.png").exists()


def test_thousands_of_tiny_members_and_nothing_usable(tmp_path):
    path = zip_with(tmp_path, "many.zip", [(f"n/{i}.txt", b"x") for i in range(3000)])
    with pytest.raises(DataError, match=r"domain A: 0 usable image\(s\).*skipped 3000 \(3000 not an image\)"):
        load_domain(path, "A", load_size=36)


def test_declared_total_size_over_the_cap_is_refused_before_reading(tmp_path, monkeypatch):
    from cyclegan_core.training import data
    monkeypatch.setattr(data, "MAX_ZIP_BYTES", 1 << 20)
    path = zip_with(tmp_path, "big.zip", [(f"{i}.png", b"\x00" * (300 << 10)) for i in range(4)])
    with pytest.raises(DataError, match="unpacks to more than"):
        load_domain(path, "A", load_size=36)


def test_a_file_named_zip_that_is_not_one(tmp_path):
    (tmp_path / "fake.zip").write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="is neither a folder nor a zip file"):
        load_domain(tmp_path / "fake.zip", "A", load_size=36)


# --- checkpoints and model folders ---------------------------------------------------------------

class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickle_with_code_is_refused_without_running(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"model.1.weight": Payload()}))
    with pytest.raises(ModelFormatError, match="not a readable PyTorch checkpoint|references Python code"):
        read_generator_pth(path)
    assert "this must never run" not in capsys.readouterr().out


DAMAGED_WEIGHTS = [
    (lambda f: f.write_bytes(f.read_bytes()[:100]), "not a readable safetensors file"),  # truncated
    (lambda f: f.write_bytes(struct.pack("<Q", 10**12) + b"{}"), "not a readable safetensors file"),  # huge header
    (lambda f: save_file({"G_AB.model.1.weight": torch.zeros(3)}, str(f)), "missing keys"),
    (lambda f: f.write_bytes(b""), "not a readable safetensors file"),
]


@pytest.mark.parametrize("damage, message", DAMAGED_WEIGHTS)
def test_damaged_weights_are_named(damage, message, tiny_model_dir):
    damage(tiny_model_dir / "model.safetensors")
    with pytest.raises(ModelFormatError, match=message):
        load_model(tiny_model_dir)


ABSURD_CONFIGS = [
    ({"n_blocks": 10**6}, "n_blocks=1000000 is beyond any CycleGAN"),
    ({"ngf": 0}, "must be positive"),
    ({"ngf": 10**9}, "ngf=1000000000 is beyond any CycleGAN"),
    ({"norm": "batch"}, "unknown norm"),
    ({"image_size": -5}, "must be positive"),
    ({"format_version": "1"}, "unknown format_version"),
]


@pytest.mark.parametrize("change, message", ABSURD_CONFIGS)
def test_absurd_configs_are_refused_before_building_anything(change, message, tiny_model_dir):
    config = json.loads((tiny_model_dir / "config.json").read_text()) | change
    (tiny_model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match=message):
        load_model(tiny_model_dir)


def test_int_weights_are_refused(tiny_model, tiny_model_dir):
    tensors = {k: v.to(torch.int32) for k, v in tiny_model.state_dict().items()}
    save_file(tensors, str(tiny_model_dir / "model.safetensors"))
    with pytest.raises(ModelFormatError, match="non-float tensors"):
        load_model(tiny_model_dir)


# --- the CLI ---------------------------------------------------------------------------------------

def test_the_cli_answers_each_bad_image_in_one_line(tiny_model_dir, tmp_path):
    bad = {name: data for name, (data, expected) in IMAGES.items() if isinstance(expected, str)}
    folder = tmp_path / "in"
    folder.mkdir()
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    Image.new("RGB", (16, 12), "green").save(folder / "good.png")
    result = subprocess.run([sys.executable, "-m", "cyclegan_core", "translate", "--model", str(tiny_model_dir),
                             "--direction", "AtoB", str(folder), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert result.stderr.count("skipped: ") == len(bad)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png"]


# --- the app's public endpoints --------------------------------------------------------------------

TASKS = ["/etc:AtoB", "..:AtoB", "../../weights/x:BtoA", "http://example.com/x:AtoB", "file:///etc/passwd:AtoB",
         "x" * 10_000 + ":AtoB", "", "horse → zebra; rm -rf /", "summer2winter:sideways"]


@pytest.mark.slow
def test_the_app_answers_every_hostile_request_and_keeps_serving(app_url, tmp_path):
    from gradio_client import Client, handle_file
    client = Client(app_url, analytics_enabled=False, verbose=False)
    good = tmp_path / "good.png"
    Image.new("RGB", (30, 20), "green").save(good)

    def still_serving():
        out = client.predict(handle_file(str(good)), "horse → zebra", api_name="/translate")
        assert Image.open(out).size == (30, 20)

    answered = 0
    for name, (data, expected) in IMAGES.items():
        path = tmp_path / name
        path.write_bytes(data)
        try:
            out = client.predict(handle_file(str(path)), "horse → zebra", api_name="/translate")
            assert isinstance(expected, tuple) and Image.open(out).size[0] >= 1, name
        except Exception as error:  # noqa: BLE001 — the app's answer, checked here
            text = str(error)
            assert isinstance(expected, str) and "Traceback" not in text and str(tmp_path) not in text, (name, text)
        answered += 1
        still_serving()
    for task in TASKS:
        with pytest.raises(Exception) as error:
            client.predict(handle_file(str(good)), task, api_name="/translate")
        text = str(error.value)
        assert any(said in text for said in ("unknown task", "not a model this app offers", "text is too long")), \
            (task[:40], text)
        assert "Traceback" not in text and len(text) < 1000
        answered += 1
        still_serving()
    print(f"the app answered {answered} hostile requests, and translated correctly after each")


def test_the_corpus_is_at_least_forty_cases():
    singles = 5  # thousands of members, declared size, a fake zip, a pickle with code, int weights
    count = len(IMAGES) + len(ZIPS) + len(DAMAGED_WEIGHTS) + len(ABSURD_CONFIGS) + len(TASKS) + singles
    print(f"hostile corpus: {count} cases ({len(IMAGES)} images, {len(ZIPS) + 3} zips, "
          f"{len(DAMAGED_WEIGHTS) + len(ABSURD_CONFIGS) + 2} checkpoints and configs, {len(TASKS)} task strings)")
    assert count >= 40
