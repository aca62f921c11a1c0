"""Publishing models to the Hugging Face Hub: the model card, the folder that goes up, the upload.

What is uploaded is exactly a model folder (`config.json` + `model.safetensors`, loaded strictly
first, so a broken model is never published), its `README.md` model card and, for a training run,
its loss curve and latest previews as `images/*.png`. Never the training state, the run's record
or log, uploaded data, or a token: the token goes from the argument, `HF_TOKEN` or huggingface_hub's
login (`hf auth login`) into the Hub's HTTP headers and nowhere else — not into files, logs or
error messages.

`push_zoo` puts every zoo model into one repo, a subfolder each (`horse2zebra/`, …), in one commit:
`CYCLEGAN_HUB_REPO=owner/name` then serves the whole zoo from it (`sources.load_zoo`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import huggingface_hub
from huggingface_hub import CommitOperationAdd, HfApi, ModelCardData
from huggingface_hub import constants as hf_constants
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError
from PIL import Image

from cyclegan_core.errors import CycleGANError, ModelNotFoundError, RunError
from cyclegan_core.export import to_onnx
from cyclegan_core.model.config import ModelConfig
from cyclegan_core.model.folder import CONFIG_NAME, WEIGHTS_NAME, is_model_folder, load_model, read_config
from cyclegan_core.nn.losses import LOSS_NAMES
from cyclegan_core.paths import weights_dir
from cyclegan_core.sources.download import probe
from cyclegan_core.sources.hub import download_model_folder, hub_endpoint, parse_hub_source
from cyclegan_core.sources.resolve import load_zoo
from cyclegan_core.sources.zoo import ZOO
from cyclegan_core.training.runs import PREVIEW_GRID, RunFolder

LIBRARY_NAME = "cyclegan-studio"
CARD_NAME = "README.md"
LOSS_IMAGE = "images/loss.png"
PREVIEWS_IMAGE = "images/previews.png"
BASE_TAGS = ("cyclegan", "image-to-image", "unpaired-image-translation")
REFERENCE_LICENSE = {"license": "other", "license_name": "pytorch-cyclegan-and-pix2pix",
                     "license_link": "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix/blob/master/LICENSE"}
ONNX_FOLDER = "onnx"
PREVIEWS_SHOWN = 3
MIN_PREVIEW_CELL = 128  # px: previews of smaller crops are enlarged on the card


@dataclass(frozen=True)
class PushResult:
    """One model published (or, in a dry run, prepared): where it went, and what went up.

    `files` are paths in the repo. `folder` is the prepared upload folder, kept for a dry run; after
    an upload it was temporary and is gone (None). `commit_url` is None for a dry run."""

    repo_id: str
    url: str
    folder: Path | None
    files: tuple[str, ...]
    commit_url: str | None


# --- the model card ---------------------------------------------------------------------------------

def model_card(folder: Path | str, repo_id: str, *, subfolder: str | None = None, revision: str | None = None,
               about: str | None = None, images: Collection[str] | None = None, onnx: bool = False) -> str:
    """The Hub model card (README.md) of the model folder `folder` published as `repo_id` (in
    `subfolder`, on branch `revision`): YAML metadata, then what it does, its architecture,
    provenance and licence, training (for a run) and how to load it. `about` is a description to
    put first (a zoo model's card); `images` the card images the upload holds (default: those
    `training_images` makes for this folder); `onnx`: the upload holds the ONNX files."""
    folder = Path(folder)
    config = read_config(folder)
    if images is None:
        images = list(training_images(folder))
    source = load_id(repo_id, subfolder, revision)
    title = subfolder or repo_id.split("/")[-1]
    arrow = "→" if config.one_way else "↔"
    sections = [f"# {title}: {config.domain_a} {arrow} {config.domain_b} (CycleGAN)",
                about or "",
                "## What it does\n\n" + what_it_does(config),
                "## Architecture\n\n" + architecture(config),
                "## Provenance and licence\n\n" + provenance(config),
                training_section(RunFolder(folder), images),
                "## How to use it\n\n" + how_to_use(source, config),
                onnx_section(config, subfolder) if onnx else ""]
    return metadata_block(card_metadata(config)) + "\n\n".join(s.strip() for s in sections if s) + "\n"


def card_metadata(config: ModelConfig) -> ModelCardData:
    """The card's YAML metadata: library, pipeline, tags (the two domains among them) and licence."""
    tags = list(dict.fromkeys([*BASE_TAGS, slug(config.domain_a), slug(config.domain_b)]))
    return ModelCardData(library_name=LIBRARY_NAME, pipeline_tag="image-to-image", tags=[t for t in tags if t],
                         **license_metadata(config.license))


def license_metadata(text: str) -> dict[str, str]:
    """The Hub licence fields for a config's free-text licence: MIT → `mit`; the reference project's
    BSD licence (the official zoo weights) → `other`, named and linked; anything else → `other`."""
    if re.search(r"\bMIT\b", text):
        return {"license": "mit"}
    if re.search(r"\bBSD\b", text):
        return dict(REFERENCE_LICENSE)
    return {"license": "other"}


def slug(text: str) -> str:
    """'Cézanne painting' → 'cezanne-painting': a domain name as a Hub tag."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def metadata_block(data: ModelCardData) -> str:
    return f"---\n{data.to_yaml()}\n---\n\n"


def load_id(repo_id: str, subfolder: str | None = None, revision: str | None = None) -> str:
    """What `cyclegan_core.load` takes for a published model: `owner/name[/subfolder][@revision]`."""
    return repo_id + (f"/{subfolder.strip('/')}" if subfolder else "") + (f"@{revision}" if revision else "")


def what_it_does(config: ModelConfig) -> str:
    a, b = config.domain_a, config.domain_b
    if config.one_way:
        return (f"Translates **{a}** images into **{b}** images (A → B, the paper's G). It is a **one-way** "
                f"model: it has no reverse generator, so there is no {b} → {a} and no cycle.")
    return (f"Translates **{a}** images into **{b}** images (A → B, the paper's G) and **{b}** into **{a}** "
            f"(B → A, the paper's F): a **two-way** CycleGAN (Zhu et al., \"Unpaired Image-to-Image Translation "
            f"using Cycle-Consistent Adversarial Networks\", ICCV 2017), learned from unpaired images. "
            f"Images of any size are translated at their own resolution.")


def architecture(config: ModelConfig) -> str:
    generators = "G: A → B (`G_AB`)" + ("" if config.one_way else " and F: B → A (`G_BA`)")
    rows = [("generators", f"{generators}: the paper's ResNet generator"), ("ngf (base width)", config.ngf),
            ("residual blocks", config.n_blocks), ("normalisation", config.norm),
            ("training image size", f"{config.image_size} px (translation runs at any size)"),
            ("files", f"`{CONFIG_NAME}` (these settings), `{WEIGHTS_NAME}` (the weights, tensors only)")]
    return table(rows)


def provenance(config: ModelConfig) -> str:
    where = config.provenance or "Not recorded in config.json."
    licence = config.license or "Not stated in config.json: ask the publisher before reusing these weights."
    return f"**Provenance.** {where}\n\n**Licence.** {licence}"


def training_section(run: RunFolder, images: Collection[str]) -> str:
    """Training settings of a run folder (its TrainConfig, steps done) and the card's images; ''
    for a model that is not a training run. Data sources and paths are never shown."""
    try:
        record = run.read_record()
    except RunError:
        return ""
    c = record.config
    planned = f"{c.epochs} epochs" if c.epochs is not None else f"{c.steps} steps"
    rows = [("steps done", f"{run.steps_done()} (planned: {planned})"), ("started from", started_from(c.init)),
            ("batch size", c.batch_size), ("crop size", f"{c.crop_size} px (images resized to {c.load_size} first)"),
            ("learning rate", f"{c.lr:g} (Adam, β = ({c.beta1:g}, {c.beta2:g}), linear decay after "
                              f"{c.decay_start:.0%} of the run)"),
            ("λ cycle", f"λ_A = {c.lambda_A:g}, λ_B = {c.lambda_B:g}"),
            ("λ identity", f"{c.lambda_identity:g} × λ"), ("GAN loss", c.gan_mode),
            ("image pool", c.pool_size), ("discriminators", f"PatchGAN, ndf {c.ndf}, {c.n_layers_D} layers"
                                + (" (the paper's 70×70)" if c.n_layers_D == 3 else "")),
            ("precision", c.precision), ("seed", c.seed)]
    parts = ["## Training\n\nTrained with CycleGAN Studio.\n\n" + table(rows)]
    if LOSS_IMAGE in images:
        parts.append(f"Losses over the run (names as in the paper: `G_AB` = G, `D_B` = D_Y, …):\n\n"
                     f"![Training losses]({LOSS_IMAGE})")
    if PREVIEWS_IMAGE in images:
        parts.append(f"The last previews, oldest first; each is two rows, real → translated → translated back: "
                     f"A → B → A, then B → A → B.\n\n![Previews]({PREVIEWS_IMAGE})")
    return "\n\n".join(parts)


def started_from(init: str | None) -> str:
    """A run's init model as the card may name it: a zoo name or Hub id, never a local path."""
    if init is None:
        return "scratch (random weights)"
    if init in ZOO:
        return f"the zoo model `{init}` (fine-tuned)"
    if parse_hub_source(init) is not None and not Path(init).expanduser().exists():
        return f"the Hub model `{init}` (fine-tuned)"
    return "a local model (fine-tuned)"


def how_to_use(source: str, config: ModelConfig) -> str:
    python = (f"import cyclegan_core\n\nmodel = cyclegan_core.load(\"{source}\")\n"
              f"model.translate(\"photo.jpg\", \"AtoB\").save(\"out.png\")  # {config.domain_a} → {config.domain_b}")
    command = f"python -m cyclegan_core translate --model {source} --direction AtoB photo.jpg --out out.png"
    return (f"With CycleGAN Studio's `cyclegan_core` package:\n\n```python\n{python}\n```\n\n"
            f"or from the command line:\n\n```bash\n{command}\n```")


def onnx_section(config: ModelConfig, subfolder: str | None) -> str:
    where = f"{subfolder}/{ONNX_FOLDER}" if subfolder else ONNX_FOLDER
    files = "\n".join(f"- `{where}/{d}.onnx`: {config.domain_a if d == 'AtoB' else config.domain_b} → "
                      f"{config.domain_b if d == 'AtoB' else config.domain_a}" for d in config.directions)
    code = ("import numpy as np, onnxruntime\nfrom PIL import Image\n\n"
            f"session = onnxruntime.InferenceSession(\"{config.directions[0]}.onnx\")\n"
            "x = np.asarray(Image.open(\"photo.jpg\").convert(\"RGB\"), np.float32).transpose(2, 0, 1)[None] / 127.5 - 1\n"
            "y = session.run(None, {\"image\": x})[0]\n"
            "Image.fromarray(((y[0].transpose(1, 2, 0) + 1) * 127.5).clip(0, 255).round().astype(np.uint8)).save(\"out.png\")")
    return (f"## ONNX\n\nThe generators as ONNX files (opset 17, fp32, any image size; input `image` and output "
            f"`translated`, float32 N×3×H×W RGB in [-1, 1]) for onnxruntime, OpenVINO or onnxruntime-web:\n\n"
            f"{files}\n\n```python\n{code}\n```")


def table(rows: list[tuple[str, object]]) -> str:
    return "| | |\n| --- | --- |\n" + "\n".join(f"| {key} | {value} |" for key, value in rows)


def zoo_index_card(repo_id: str, names: Collection[str], revision: str | None = None) -> str:
    """The top-level README.md of a zoo repo: one line per model, how to load one, how to serve all."""
    rows = "\n".join(f"| [`{name}`]({name}/README.md) | {ZOO[name].domain_a} → {ZOO[name].domain_b} | "
                     f"{'one-way' if ZOO[name].one_way else 'two-way'} | {ZOO[name].group} | "
                     f"`{load_id(repo_id, name, revision)}` |" for name in names)
    data = ModelCardData(library_name=LIBRARY_NAME, pipeline_tag="image-to-image", tags=list(BASE_TAGS),
                         **REFERENCE_LICENSE)
    serve = repo_id + (f"@{revision}" if revision else "")
    return metadata_block(data) + (
        f"# CycleGAN model zoo\n\nThe official pretrained CycleGAN generators of the reference implementation "
        f"(junyanz/pytorch-CycleGAN-and-pix2pix), converted strictly into CycleGAN Studio's model format: one "
        f"model folder (`{CONFIG_NAME}` + `{WEIGHTS_NAME}`) per subfolder, each with its own card.\n\n"
        f"| model | translates | kind | group | load |\n| --- | --- | --- | --- | --- |\n{rows}\n\n"
        f"Load one with `cyclegan_core.load(\"{load_id(repo_id, next(iter(names)), revision)}\")`. Serve the whole "
        f"zoo from this repo (a Space, a server, your machine): set `CYCLEGAN_HUB_REPO={serve}`, and a zoo name "
        f"such as `horse2zebra` loads from its subfolder here.\n")


# --- the card's images -------------------------------------------------------------------------------

def training_images(folder: Path | str) -> dict[str, Image.Image]:
    """A training run's card images by path in the upload: its loss curve (`images/loss.png`) and its
    latest previews (`images/previews.png`), each only if the run has them; {} for a plain model."""
    run = RunFolder(folder)
    images = {}
    try:
        log = run.read_log()
    except RunError:
        log = []
    if log:
        images[LOSS_IMAGE] = loss_plot(log)
    previews = run.read_previews(last=PREVIEWS_SHOWN)
    if previews:
        images[PREVIEWS_IMAGE] = preview_sheet(previews)
    return images


def loss_plot(log: list[dict]) -> Image.Image:
    """Every loss term against the step, smoothed by a running mean on long runs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    window = max(1, len(log) // 100)
    figure = Figure(figsize=(8, 4.5), dpi=100)
    axes = figure.add_subplot()
    for name in LOSS_NAMES:
        values = [float(r[name]) for r in log if name in r]
        steps = [r["step"] for r in log if name in r]
        if values:
            axes.plot(steps[window - 1:], running_mean(values, window), label=name, linewidth=1.2)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title("Training losses" + (f" (running mean over {window} steps)" if window > 1 else ""))
    axes.grid(alpha=0.3)
    axes.legend(ncol=4, fontsize="small")
    figure.tight_layout()
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")


def running_mean(values: list[float], window: int) -> list[float]:
    sums = [0.0]
    for v in values:
        sums.append(sums[-1] + v)
    return [(sums[i] - sums[i - window]) / window for i in range(window, len(sums))]


def preview_sheet(previews: list[dict[str, Image.Image]], gap: int = 4) -> Image.Image:
    """Previews (each six images by name, `runs.PREVIEW_GRID`) stacked: two rows each, real →
    translated → back, on white; cells under MIN_PREVIEW_CELL px are enlarged by a whole factor."""
    rows = [[p[name] for name in row] for p in previews for row in PREVIEW_GRID]
    scale = max(1, MIN_PREVIEW_CELL // rows[0][0].width)  # small crops enlarged, pixels kept sharp
    width, height = rows[0][0].width * scale, rows[0][0].height * scale
    sheet = Image.new("RGB", (3 * width + 2 * gap, len(rows) * height + (len(rows) - 1) * gap), "white")
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            sheet.paste(image.resize((width, height), Image.NEAREST), (c * (width + gap), r * (height + gap)))
    return sheet


# --- the upload folder --------------------------------------------------------------------------------

def prepare_upload(folder: Path | str, repo_id: str, out: Path | str | None = None, *,
                   subfolder: str | None = None, revision: str | None = None, about: str | None = None,
                   onnx: bool = False) -> Path:
    """A folder holding exactly what publishing `folder` uploads: config.json, model.safetensors
    (hard-linked where possible), README.md, for a training run images/*.png, and with `onnx` each
    direction as `onnx/AtoB.onnx` (and `onnx/BtoA.onnx`; `export.to_onnx`, fp32). The model is
    loaded strictly first: a broken one raises here, before anything is written. `out` must be new
    or empty (default: a new temporary folder, which the caller owns)."""
    folder = Path(folder)
    model = load_model(folder)  # strict: every key, every shape; a broken model is never published
    out = Path(tempfile.mkdtemp(prefix="cyclegan-push-")) if out is None else empty_folder(Path(out))
    link_or_copy(folder / WEIGHTS_NAME, out / WEIGHTS_NAME)
    shutil.copyfile(folder / CONFIG_NAME, out / CONFIG_NAME)
    images = training_images(folder)
    for name, image in images.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        image.save(out / name)
    for direction in model.config.directions if onnx else ():
        to_onnx(model, direction, "fp32", out / ONNX_FOLDER / f"{direction}.onnx")
    card = model_card(folder, repo_id, subfolder=subfolder, revision=revision, about=about, images=list(images),
                      onnx=onnx)
    (out / CARD_NAME).write_text(card, encoding="utf-8")
    return out


def upload_files(folder: Path | str) -> tuple[str, ...]:
    """Every file in a prepared folder, as paths relative to it, sorted."""
    folder = Path(folder)
    return tuple(sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()))


def empty_folder(path: Path) -> Path:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise CycleGANError(f"{path} is not empty; the upload is prepared in a new or empty folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


# --- which folder a name means -------------------------------------------------------------------------

def model_folder_for(source: str | os.PathLike) -> Path:
    """The model folder to publish for a source as the CLI's `push MODEL` takes it, in `sources.load`'s
    order: a folder path, a zoo name (fetched like `load_zoo` does if needed), or the name of a model
    in the local store (`weights/<name>`)."""
    text = str(source)
    if isinstance(source, os.PathLike) or Path(text).expanduser().exists() or text.startswith((".", "/", "~")):
        return Path(text).expanduser()
    if text in ZOO:
        return zoo_folder(text)
    if text and text == Path(text).name and is_model_folder(weights_dir() / text):
        return weights_dir() / text
    raise ModelNotFoundError(f"{text!r} is not a model folder, a zoo name ({', '.join(ZOO)}) or the name of a "
                             f"model in {weights_dir()}")


def zoo_folder(name: str) -> Path:
    """The model folder of zoo model `name`, resolved as `sources.load_zoo` resolves it: the local
    store, then `CYCLEGAN_HUB_REPO` (a folder in the Hub cache), then the upstream `.pth` files
    (converted into the store)."""
    local = weights_dir() / name
    if not is_model_folder(local):
        load_zoo(name)
    if is_model_folder(local):
        return local
    repo = parse_hub_source(os.environ.get("CYCLEGAN_HUB_REPO", ""))
    if repo is None:
        raise ModelNotFoundError(f"zoo model {name!r} was loaded, but not from {local} or CYCLEGAN_HUB_REPO")
    return download_model_folder(repo._replace(subfolder=name))  # in the Hub cache already: no download


# --- pushing --------------------------------------------------------------------------------------------

def push_model(folder: Path | str, repo_id: str, *, token: str | None = None, private: bool = False,
               revision: str | None = None, path_in_repo: str | None = None, endpoint: str | None = None,
               dry_run: bool = False, onnx: bool = False) -> PushResult:
    """Publish a model folder (or training run) to the Hub repo `repo_id` (created if needed; on
    branch `revision`, created from main if needed; into `path_in_repo`). The token is `token`,
    else `HF_TOKEN`, else huggingface_hub's login. `dry_run` prepares the folder and uploads nothing;
    `onnx` adds the ONNX files (`prepare_upload`)."""
    check_repo_id(repo_id)
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    sub = path_in_repo.strip("/") if path_in_repo else None
    url = repo_url(endpoint, repo_id, revision, sub)
    if dry_run:
        prepared = prepare_upload(folder, repo_id, subfolder=sub, revision=revision, onnx=onnx)
        return PushResult(repo_id, url, prepared, in_repo(upload_files(prepared), sub), None)
    with tempfile.TemporaryDirectory(prefix="cyclegan-push-") as staging:
        prepared = prepare_upload(folder, repo_id, Path(staging) / "upload", subfolder=sub, revision=revision,
                                  onnx=onnx)
        files = in_repo(upload_files(prepared), sub)
        with hub_errors(endpoint, repo_id, revision, token):
            api = open_repo(endpoint, repo_id, token, private, revision)
            info = api.upload_folder(folder_path=prepared, repo_id=repo_id, path_in_repo=sub, revision=revision,
                                     token=token, commit_message=f"Upload {sub or repo_id} with CycleGAN Studio")
    return PushResult(repo_id, url, None, files, info.commit_url)


def push_zoo(repo_id: str, *, token: str | None = None, private: bool = False, revision: str | None = None,
             names: Collection[str] | None = None, dry_run: bool = False,
             progress: Callable[[str], None] | None = None, onnx: bool = False) -> list[PushResult]:
    """Publish zoo models (default: all of `ZOO`) into one repo, each in its subfolder `<name>/` with
    its card, plus a top-level README.md listing them, in one commit. Each model's folder is found the
    way `sources.load_zoo` finds it (fetched from upstream and converted if needed). `progress` is
    told each step in a line. A dry run keeps the prepared tree (each result's folder, the index
    README.md beside them) and uploads nothing."""
    check_repo_id(repo_id)
    names = list(dict.fromkeys(ZOO if names is None else names))
    unknown = [n for n in names if n not in ZOO]
    if unknown or not names:
        raise ModelNotFoundError(f"not zoo models: {', '.join(unknown) or '(none given)'}; the zoo has "
                                 f"{', '.join(ZOO)}")
    say = progress or (lambda line: None)
    endpoint = hub_endpoint()
    staging = Path(tempfile.mkdtemp(prefix="cyclegan-push-zoo-"))
    try:
        prepared = prepare_zoo(repo_id, names, revision, staging, say, onnx)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    results = [PushResult(repo_id, repo_url(endpoint, repo_id, revision, name), staging / name, files, None)
               for name, files in prepared.items()]
    if dry_run:
        return results
    try:
        say(f"uploading {len(names)} model(s) to {repo_id} in one commit")
        with hub_errors(endpoint, repo_id, revision, token):
            api = open_repo(endpoint, repo_id, token, private, revision)
            operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(staging / path))
                          for path in upload_files(staging)]
            info = api.create_commit(repo_id, operations=operations, revision=revision, token=token,
                                     commit_message=f"Upload the CycleGAN zoo ({len(names)} models) with "
                                                    f"CycleGAN Studio")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [PushResult(r.repo_id, r.url, None, r.files, info.commit_url) for r in results]


def prepare_zoo(repo_id: str, names: list[str], revision: str | None, staging: Path,
                say: Callable[[str], None], onnx: bool = False) -> dict[str, tuple[str, ...]]:
    """Prepare each zoo model in `staging/<name>/` and the index README.md; returns each model's files
    as paths in the repo."""
    prepared = {}
    for name in names:
        say(f"{name}: resolving the model folder")
        folder = prepare_upload(zoo_folder(name), repo_id, staging / name, subfolder=name, revision=revision,
                                about=ZOO[name].card(), onnx=onnx)
        prepared[name] = in_repo(upload_files(folder), name)
        say(f"{name}: prepared ({', '.join(prepared[name])})")
    (staging / CARD_NAME).write_text(zoo_index_card(repo_id, names, revision), encoding="utf-8")
    return prepared


def check_repo_id(repo_id: str) -> None:
    source = parse_hub_source(repo_id)
    if source is None or source.subfolder or source.revision:
        raise CycleGANError(f"{repo_id!r} is not a Hub repo id: expected owner/name (a branch goes in "
                            f"--revision / revision=)")


def repo_url(endpoint: str, repo_id: str, revision: str | None, subfolder: str | None) -> str:
    if not revision and not subfolder:
        return f"{endpoint}/{repo_id}"
    return f"{endpoint}/{repo_id}/tree/{revision or 'main'}" + (f"/{subfolder}" if subfolder else "")


def in_repo(files: tuple[str, ...], subfolder: str | None) -> tuple[str, ...]:
    return tuple(f"{subfolder}/{f}" for f in files) if subfolder else files


def open_repo(endpoint: str, repo_id: str, token: str | None, private: bool, revision: str | None) -> HfApi:
    """Probe the endpoint briefly, then create the repo and the branch if they do not exist yet."""
    if hf_constants.HF_HUB_OFFLINE:
        raise CycleGANError("HF_HUB_OFFLINE is set: nothing can be published; unset it to upload")
    reason = probe(endpoint)
    if reason is not None:
        raise CycleGANError(f"the Hub ({endpoint}) cannot be reached ({reason}); nothing was uploaded")
    api = HfApi(endpoint=endpoint, library_name=LIBRARY_NAME)
    api.create_repo(repo_id, token=token, private=private, exist_ok=True)
    if revision:
        api.create_branch(repo_id, branch=revision, token=token, exist_ok=True)
    return api


@contextmanager
def hub_errors(endpoint: str, repo_id: str, revision: str | None, token: str | None) -> Iterator[None]:
    """The Hub client's errors as CycleGANErrors that say what to do; no message carries the token."""
    secrets = [s for s in (token, os.environ.get("HF_TOKEN"), huggingface_hub.get_token()) if s]
    login = ("" if secrets else " No token was found: set HF_TOKEN or run `hf auth login`.")
    try:
        yield
    except RevisionNotFoundError:
        raise CycleGANError(f"Hub repo {repo_id} has no branch {revision!r} and it could not be made") from None
    except RepositoryNotFoundError:
        raise CycleGANError(f"Hub repo {repo_id} was not found at {endpoint}, or the token may not write to it "
                            f"(check the name, and that the token has write access).{login}") from None
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        if status == 401:
            raise CycleGANError(f"the Hub ({endpoint}) refused the token (401 Unauthorized): use a valid token "
                                f"with write access (HF_TOKEN, or `hf auth login`).{login}") from None
        if status == 403:
            raise CycleGANError(f"the token may not write to {repo_id} (403 Forbidden): use a token with write "
                                f"access to {repo_id.split('/')[0]}.") from None
        detail = redact(e.server_message or f"HTTP {status}", secrets)
        raise CycleGANError(f"publishing to {repo_id} failed: the Hub ({endpoint}) answered {status} "
                            f"({detail})") from None
    except (httpx.HTTPError, OSError) as e:
        raise CycleGANError(f"publishing to {repo_id} failed: the connection to the Hub ({endpoint}) broke "
                            f"({redact(str(e), secrets)}); nothing may have been committed, try again") from None


def redact(text: str, secrets: Collection[str]) -> str:
    """`text` without any of `secrets` and without anything shaped like a Hugging Face token."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return re.sub(r"hf_[A-Za-z0-9]{8,}", "hf_***", text)
