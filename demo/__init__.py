"""CycleGAN Studio's Gradio UI (the only package that imports gradio): thin wiring over `cyclegan_core`.

    app.py            build_demo(): the page, its tabs and the queue
    door.py           the one door: every route's requests and every event's inputs checked, fair shares
    uploads.py        the upload cache: unused uploads expire, a byte budget, uploads refused when full
    translate_tab.py  the Translate tab: TranslateHandlers and their wiring
    video.py          the Translate tab's video: a clip translated with its shots' statistics, sound kept
    webcam.py         the Translate tab's webcam, live: frames translated at a size this machine keeps up with
    device.py         translating on the visitor's device: the model file, onnxruntime-web, static/device.js
    zerogpu.py        ZeroGPU Spaces: the functions that need a GPU, each under `spaces.GPU` with its estimate
    progress.py       long translations: preview sizes, measured speed, time left, the worker a Cancel stops
    train_tab.py      the Train tab: TrainHandlers and their wiring
    learn_tab.py      the Learn tab: the cycle, hidden information, the discriminator, lessons, live training
    training.py       what the Train tab needs besides widgets: the one training slot, summaries
    tasks.py          the Translate tab's task list ("horse → zebra", "SOURCE:AtoB"), grouped; one-way models
    example_pictures.py  example pictures of each domain with their licences (shipped, or from a Hub dataset)
    visitors.py       who is asking: each visitor's runs are their own
    model_cache.py    a small thread-safe LRU of loaded models
    errors.py         core errors → messages on the page, never a crash; the error box
    outputs.py        a handler's yield that names the outputs it changes (gr.skip() for the rest)
"""

from .app import build_demo, launch_options

__all__ = ["build_demo", "launch_options"]
