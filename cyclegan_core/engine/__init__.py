"""Translation at any size: how a generator runs over an image, whole, streamed or tiled.

    images.py          images in (any format, EXIF, modes) and image ↔ tensor conversion
    runtime.py         precision policy (fp32/bf16), CPU threads, CPU sharing between jobs
    translation.py     which path translates a tensor: whole, streamed or tiled
    streaming.py       exact any-size translation in windows, whole-image InstanceNorm statistics
    row_bands.py       streaming's stored activations as bands of rows, released once read
    tiling.py          beyond the streaming budget: tiles with a thumbnail's statistics
    compiled.py        optional torch.compile of the streaming window functions, off the request path
    onnx_graph.py      a generator written as an ONNX graph (any size, our padding rule inside)
    backends.py        OpenVINO and onnxruntime as backends of a whole pass, and which one runs
    kernels/           the fp32 convolution kernel and InstanceNorm of the CPU path
    video.py           video files in and out (PyAV): probe, decode, encode, the sound copied
    shots.py           shots (cuts) and the InstanceNorm statistics a shot's frames share
    video_translation.py  a whole video translated: shots first, then every frame, sound kept
    webcam.py          a live view: frames translated with statistics locked while the view is steady

Imports: `nn`, `errors`, `atomic`; inside, video_translation, webcam → shots → translation → tiling,
compiled, backends → streaming, onnx_graph → row_bands, runtime, images, video → kernels.
"""
