"""Hugging Face Space entry point: `python app.py` (or `gradio app.py`) serves the demo."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

if os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true"):
    import spaces  # noqa: F401, E402 — on ZeroGPU, before torch: it keeps CUDA out of this process

from demo import build_demo, launch_options  # noqa: E402

demo = build_demo()

if __name__ == "__main__":
    demo.launch(**launch_options())
