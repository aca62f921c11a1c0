"""CycleGAN Studio's core: the paper's networks, model folders, model sources, translation at any
size, and training. No UI here (the app in `demo/` is thin wiring over this package).

Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks",
ICCV 2017. `G_AB` is the paper's G: A → B, `G_BA` its F, `D_A` its D_X and `D_B` its D_Y.

Modules, one concern each (read them in this order to follow the paper, then the machinery):

    networks.py        the ResNet generator and 70×70 PatchGAN, in the reference layout
    losses.py          LSGAN / cycle / identity losses (Eq. 1–3, Sec. 5.2)
    image_pool.py      the history of generated images for D updates (Sec. 4)
    model.py           CycleGAN: both generators, translate and cycle an image
    model_config.py    ModelConfig, the config.json of a model
    model_folder.py    model folders (config.json + model.safetensors): save, strict load
    images.py          images in (any format, EXIF, modes) and image ↔ tensor conversion
    translation.py     which path translates a tensor: whole, streamed or tiled
    streaming.py       exact any-size translation in windows, whole-image InstanceNorm statistics
    row_bands.py       streaming's stored activations as bands of rows, released once read
    tiling.py          beyond the streaming budget: tiles with a thumbnail's statistics
    compiled.py        optional torch.compile of the streaming window functions, off the request path
    kernels.py         which kernel runs fp32 3×3 convolutions here: Winograd or oneDNN, measured
    winograd.py        3×3 convolutions as Winograd F(4×4, 3×3) transforms and batched matrix products
    instance_norm.py   InstanceNorm of a channels-last fp32 activation, in place
    runtime.py         precision policy (fp32/bf16), CPU threads, CPU sharing between jobs
    data.py            unpaired training data: folders, zips (read safely), file lists
    train_config.py    TrainConfig, everything that defines a training run
    trainer.py         CycleGANTrainer: one training iteration (generator and discriminator steps)
    training_state.py  a trainer's full state in one file, for exact resume
    train.py           the training loop, a generator of events
    distributed.py     the same loop on many processes/GPUs/nodes: torchrun, DDP, rank 0 writes
    runs.py            run folders: record, log, previews, save/restore, resume checks
    store.py           the local model store (weights/): list models and runs, new run, delete
    zoo.py             the official models offered by name (18 generators), with their model cards
    packaged.py        models shipped inside installed packages (vintagify's modern → vintage), offline
    availability.py    whether a zoo model can be used now: here already, downloadable, or not offline
    sources.py         load(source): a folder, a zoo name (local, Hub, upstream) or a Hub repo
    public_sources.py  what a visitor of a public app may name as a source: never a server path
    hub.py             model folders from the Hugging Face Hub
    publish.py         publishing to the Hub: model card, the exact upload folder, push a model or the zoo
    convert.py         the reference implementation's .pth generators → a model folder
    download.py        HTTP: a short reachability probe and a verified download
    atomic.py          atomic file writes
    errors.py          the errors a user can act on

Teaching (the app's Learn tab; each computation testable without a UI):

    explain.py         the cycle seen: x, G(x), F(G(x)), per-pixel cycle-error maps, the identity view
    steganography.py   the information a cycle hides in G(x): high frequencies, noise/JPEG vs F(G(x))
    discriminators.py  a model's PatchGANs (from its training state, or trained against frozen G/F); patch maps
    synthetic.py       built-in synthetic domains (shapes, textures, colours), generated on the fly
    lessons.py         recorded small experiments (λ_cycle 10 vs 0, identity, geometry, little data)
    live.py            a tiny CycleGAN trained live, one generator and one discriminator update at a time
    builtin.py         built-in models: tiny CycleGANs trained once on the synthetic tasks, kept in the store
    doctor.py          "is it working?": plain-language checks on a run's losses and previews
    cli.py             `python -m cyclegan_core {convert,translate,train,fetch,push,push-zoo}` (__main__.py runs it)
"""

from cyclegan_core.errors import (CycleGANError, DataError, ImageError, ModelFormatError, ModelNotFoundError, OneWayModelError,
                     RunError, SourceRefused)
from cyclegan_core.engine.images import load_image
from cyclegan_core.model.cyclegan import DIRECTIONS, CycleGAN, CycleResult
from cyclegan_core.model.config import ModelConfig
from cyclegan_core.model.folder import is_model_folder, load_model, save_model
from cyclegan_core.model.convert import convert_official
from cyclegan_core.training.runs import RunFolder
from cyclegan_core.sources.resolve import load
from cyclegan_core.paths import weights_dir
from cyclegan_core.training.store import ModelStore
from cyclegan_core.training.loop import train
from cyclegan_core.training.config import TrainConfig
from cyclegan_core.training.trainer import CycleGANTrainer
from cyclegan_core.sources.zoo import ZOO

__all__ = [
    "CycleGAN", "CycleGANError", "CycleGANTrainer", "CycleResult", "DIRECTIONS", "DataError", "ImageError",
    "ModelConfig", "ModelFormatError", "ModelNotFoundError", "ModelStore", "OneWayModelError", "RunError", "RunFolder", "SourceRefused",
    "TrainConfig",
    "ZOO", "convert_official", "is_model_folder", "load", "load_image", "load_model", "save_model", "train",
    "weights_dir",
]
