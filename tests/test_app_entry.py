"""`python app.py` as a Space runs it: serves on the host/port from the environment, loads no model
until asked, and translates all four zoo directions at full resolution."""

import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import cyclegan_core
from conftest import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_python_app_py_serves_the_four_zoo_directions(zoo_upstream, offline_sandbox, photo, tmp_path):
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
    log = open(tmp_path / "app.log", "w")
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                client = Client(url, analytics_enabled=False, verbose=False)
                break
            except Exception:
                assert process.poll() is None, (tmp_path / "app.log").read_text()
                assert time.monotonic() < deadline, "app.py did not start serving within 90 s"
                time.sleep(0.5)
        assert zoo_upstream.requests == [], "no model may be loaded (nor a source probed) at start-up"

        path = tmp_path / "photo.png"
        photo.save(path)
        for task, name, direction in [("summer → winter", "summer2winter", "AtoB"),
                                      ("winter → summer", "summer2winter", "BtoA"),
                                      ("horse → zebra", "horse2zebra", "AtoB"),
                                      ("zebra → horse", "horse2zebra", "BtoA")]:
            out = Image.open(client.predict(handle_file(str(path)), task, api_name="/translate"))
            assert out.size == photo.size
            expected = cyclegan_core.load(name).translate(photo, direction)  # the app cached it in weights/
            assert np.array_equal(np.asarray(out.convert("RGB")), np.asarray(expected)), task
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
