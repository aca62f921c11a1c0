"""The app's routes serve no file a visitor did not get from it: not the model store, a run's kept
uploads, the Hub cache, the code or the server's own files (Gradio's file rules, checked here)."""

import urllib.error
import urllib.parse
import urllib.request

from cyclegan_core import ModelStore, save_model
from conftest import ROOT


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_files_outside_the_apps_own_outputs_are_not_served(app_url, tiny_model, offline_sandbox, tmp_path):
    store = ModelStore()
    save_model(tiny_model, store.root / "fruit")
    kept = store.new_run("someone")
    upload = tmp_path / "cat.png"
    upload.write_bytes(b"\x89PNG private photo")
    kept.keep_data("A", [upload])
    secret = offline_sandbox / "hf-cache" / "models--x--y" / "secret.bin"
    secret.parent.mkdir(parents=True)
    secret.write_bytes(b"cached")
    targets = [store.root / "fruit" / "model.safetensors", store.root / "fruit" / "config.json",
               kept.path / "data" / "A" / "00000-cat.png", secret, ROOT / "app.py", ROOT / "cyclegan_core" / "zoo.py",
               "/etc/passwd", "/proc/self/environ"]
    base = app_url.rstrip("/")
    tried = 0
    for target in targets:
        text = str(target)
        for route in (f"/gradio_api/file={text}", f"/gradio_api/file={urllib.parse.quote(text)}",
                      f"/file={text}", f"/gradio_api/file=../../../..{text}", f"/gradio_api/file=..%2F..%2F..{text}"):
            code = status(base + route)
            tried += 1
            assert code in (403, 404), (route, code)
    print(f"{tried} file requests refused")
    # What the app hands out is served: a translation's result comes back through the same route.
    from gradio_client import Client, handle_file
    photo = tmp_path / "photo.png"
    __import__("PIL.Image").Image.new("RGB", (20, 12), "red").save(photo)
    result = Client(app_url, analytics_enabled=False, verbose=False).predict(handle_file(str(photo)), "fruit:AtoB",
                                                                            api_name="/translate")
    assert __import__("PIL.Image").Image.open(result).size == (20, 12)
