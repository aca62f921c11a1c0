"""Hugging Face Space entry point: `python app.py` (or `gradio app.py`) serves the demo."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from demo import build_demo, launch_options  # noqa: E402

demo = build_demo()

if __name__ == "__main__":
    demo.launch(**launch_options())
