"""A CycleGAN model: both generators, its config and its folder on disk.

    cyclegan.py        CycleGAN: both generators, translate and cycle an image
    config.py          ModelConfig, the config.json of a model
    folder.py          model folders (config.json + model.safetensors): save, strict load
    convert.py         the reference implementation's .pth generators → a model folder

Imports: `engine`, `nn`, `atomic`, `errors`.
"""
