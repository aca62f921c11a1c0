"""demo/example_pictures.py: shipped examples with their licences, plus a Hub dataset's (loopback)."""

import io
import json

from PIL import Image

from demo.example_pictures import ExamplePictures, read_manifest
from servers import FakeHub


def png_bytes(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def dataset(extra: dict | None = None) -> dict[str, bytes]:
    manifest = [
        {"file": "zebra1.png", "domains": ["zebra"], "title": "A zebra", "author": "Someone", "source": "the Hub",
         "license": "CC0-1.0"},
        {"file": "nolicence.png", "domains": ["zebra"], "title": "x", "author": "x", "source": "x", "license": ""},
        {"file": "../escape.png", "domains": ["zebra"], "title": "x", "author": "x", "source": "x", "license": "CC0"},
        {"file": "broken.png", "domains": ["zebra"], "title": "x", "author": "x", "source": "x", "license": "CC0"},
    ]
    files = {"examples.json": json.dumps(manifest).encode(), "zebra1.png": png_bytes("white"),
             "nolicence.png": png_bytes("black"), "broken.png": b"not a picture"}
    return {**files, **(extra or {})}


def test_every_shipped_picture_has_a_licence_and_the_domains_match_case_insensitively():
    pictures = ExamplePictures(hub_repo="")
    assert pictures.shipped and all(p.license and p.source and p.path.is_file() for p in pictures.shipped)
    assert pictures.for_domain("Zebra") == pictures.for_domain("zebra") != []
    assert pictures.for_domain("no such domain") == []
    assert "(" in pictures.shipped[0].caption  # the licence is in the credit the page shows


def test_a_hub_dataset_adds_pictures_then_serves_them_from_the_cache_offline(offline_sandbox, monkeypatch):
    import huggingface_hub.constants as hf
    with FakeHub({"datasets/someone/examples": dataset()}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        online = ExamplePictures(hub_repo="someone/examples")
        zebras = online.for_domain("zebra")
        fetched = [p for p in zebras if p.source == "the Hub"]
        assert [p.title for p in fetched] == ["A zebra"]  # no licence, unsafe name, broken picture: left out
        assert zebras[len(fetched):] == ExamplePictures(hub_repo="").for_domain("zebra")  # shipped ones remain
        assert not [path for path in hub.gets() if "escape" in path]
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    offline = ExamplePictures(hub_repo="someone/examples")
    assert [p.title for p in offline.for_domain("zebra") if p.source == "the Hub"] == ["A zebra"]


def test_without_network_or_cache_the_shipped_pictures_remain(offline_sandbox):
    pictures = ExamplePictures(hub_repo="someone/examples")  # HF_ENDPOINT is a closed port here
    assert pictures.for_domain("zebra") == ExamplePictures(hub_repo="").for_domain("zebra")


def test_a_malformed_manifest_entry_is_left_out(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "examples.json").write_text(json.dumps([{"file": "a.png"}, {"file": "a.png", "domains": ["x"],
                                                        "title": "t", "author": "a", "source": "s", "license": "MIT"}]))
    assert [p.domains for p in read_manifest(tmp_path)] == [("x",)]
