"""The paper's networks and objective (Zhu et al. 2017, Sec. 3–4): the lowest room, plain PyTorch.

    networks.py        the ResNet generator and 70×70 PatchGAN, in the reference layout
    losses.py          LSGAN / cycle / identity losses (Eq. 1–3, Sec. 5.2); the loss and preview names
    image_pool.py      the history of generated images for D updates (Sec. 4)

Imports: torch only.
"""
