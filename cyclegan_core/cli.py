"""Command line: `python -m cyclegan_core {convert,translate,export,train,fetch,push,push-zoo} …` (each has --help)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from cyclegan_core.engine.compiled import WindowCompiler, should_compile
from cyclegan_core.engine.images import IMAGE_SUFFIXES
from cyclegan_core.engine.runtime import PRECISIONS, configure_threads
from cyclegan_core.engine.video import OUTPUT_SUFFIXES, is_video
from cyclegan_core.engine.video_translation import STATS, VideoProgress
from cyclegan_core.errors import CycleGANError, ImageError, VideoError
from cyclegan_core.export import FORMATS, to_onnx
from cyclegan_core.model.convert import convert_official
from cyclegan_core.model.cyclegan import DIRECTIONS
from cyclegan_core.nn.losses import GAN_MODES
from cyclegan_core.publish import PushResult, load_id, model_folder_for, push_model, push_zoo
from cyclegan_core.sources.resolve import default_device, load
from cyclegan_core.sources.zoo import ZOO
from cyclegan_core.training.config import FREEZE, PRESETS, TrainConfig
from cyclegan_core.training.distributed import from_environment, in_a_group, shutdown
from cyclegan_core.training.loop import CheckpointSaved, Finished, Started, StepDone, train
from cyclegan_core.training.runs import RunFolder
from cyclegan_core.training.store import ModelStore


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_threads()
    try:
        return args.run(args)
    except CycleGANError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cyclegan_core", description="CycleGAN Studio core tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("convert", help="convert the reference implementation's .pth generators "
                                            "into a model folder",
                            description="Convert official generator files (A→B and B→A, or A→B alone for a "
                                        "one-way model such as style_monet.pth) into a model folder "
                                        "(config.json + model.safetensors).")
    p.add_argument("a_to_b", type=Path, help="generator A→B, e.g. horse2zebra.pth")
    p.add_argument("b_to_a", type=Path, nargs="?", default=None,
                   help="generator B→A, e.g. zebra2horse.pth; leave out for a one-way model (no reverse, no cycle)")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--domains", nargs=2, metavar=("A", "B"), default=("A", "B"), help="domain names, e.g. horse zebra")
    p.add_argument("--image-size", type=int, default=256, help="training crop size to record (default 256)")
    p.add_argument("--provenance", default="", help="where the weights come from (recorded in config.json)")
    p.add_argument("--license", default="", help="licence note (recorded in config.json)")
    p.set_defaults(run=run_convert)

    p = commands.add_parser("translate", help="translate images and videos with a model",
                            description="Translate images and videos (.mp4, .mov, .webm, .mkv, animated .gif) at "
                                        "full resolution. One file → --out is a file; several files or a folder → "
                                        "--out is a folder (PNG files; a video keeps its container, .mp4 for a "
                                        ".gif). A video keeps its frame rate, length and sound.")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image or video files, or folders")
    p.add_argument("--model", required=True,
                   help=f"vintage (the built-in modern photo → vintage photo model; works offline), a zoo name "
                        f"({', '.join(ZOO)}), a model folder, the name of a model in weights/ or a Hub repo id")
    p.add_argument("--direction", choices=DIRECTIONS, default=None,
                   help="AtoB (the paper's G) or BtoA (F); a one-way model such as vintage has only AtoB, the default "
                        "there; a two-way model needs it")
    p.add_argument("--out", type=Path, required=True, help="output file (one input) or folder")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: bf16 where the hardware supports it, else fp32 (default); fp32: exact reference parity")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--max-pixels", type=int, default=None,
                   help="refuse images (and video frames) larger than this many pixels")
    p.add_argument("--max-seconds", type=float, default=None, help="refuse videos longer than this")
    p.add_argument("--stats", choices=STATS, default="shot",
                   help="videos: InstanceNorm statistics shared by the frames of a shot (shot, the default: no "
                        "flicker) or each frame's own (frame: what frame-by-frame tools do, which flickers)")
    p.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                   help="a progress bar with time left for each image that takes over a second "
                        "(auto: when stderr is a terminal); for a video, a line every tenth of its frames "
                        "with the time left (unless off)")
    p.set_defaults(run=run_translate)

    p = commands.add_parser("export", help="write one direction of a model as an ONNX file",
                            description="Write a model's generator as an ONNX file (opset 17, any image size, "
                                        "domains, direction, provenance and licence in its metadata) for "
                                        "onnxruntime, OpenVINO, onnxruntime-web in a browser, or any ONNX runtime. "
                                        "Input `image` and output `translated`: float32 N×3×H×W RGB in [-1, 1].")
    p.add_argument("model", help="vintage, a zoo name, a model folder, the name of a model in weights/ or a Hub repo id")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="file format (default onnx)")
    p.add_argument("--direction", choices=DIRECTIONS, default=None,
                   help="AtoB (the paper's G) or BtoA (F); a one-way model has only AtoB, the default there; "
                        "a two-way model needs it")
    p.add_argument("--precision", choices=("fp32", "fp16"), default="fp32",
                   help="fp32 (default) or fp16: half the file, float16 weights and activations")
    p.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    p.set_defaults(run=run_export)

    d = TrainConfig()  # the training defaults named below are TrainConfig's
    p = commands.add_parser("train", help="train or fine-tune a CycleGAN on two unpaired image sets",
                            description="Train on two unpaired domains (each a folder, a zip, or several files). "
                                        "The run folder is a model folder at once (translate --model RUN_DIR) and "
                                        "holds a resumable training state. Ctrl-C stops after the current step and "
                                        "saves; a second Ctrl-C aborts at once (still saving what it can).")
    p.add_argument("--data-a", nargs="+", help="domain A: a folder, a zip file, or image files")
    p.add_argument("--data-b", nargs="+", help="domain B: a folder, a zip file, or image files")
    p.add_argument("--out", type=Path, help="run folder to create (not needed with --resume)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue this run (same data and settings)")
    p.add_argument("--init", metavar="SOURCE", help="fine-tune from a model: zoo name, folder or Hub repo id "
                                                    "(default: train from scratch)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="small",
                   help="architecture when training from scratch: " + "; ".join(
                       f"{name} = ngf {v['ngf']}, {v['n_blocks']} blocks" for name, v in PRESETS.items())
                   + " (default small; full is the paper's)")
    p.add_argument("--steps", type=int, help=f"total steps (default {d.steps}; with --resume: the new total)")
    p.add_argument("--epochs", type=int, help="instead of --steps: passes over the larger domain")
    p.add_argument("--crop-size", type=int, help=f"training crop (default {d.crop_size})")
    p.add_argument("--load-size", type=int, help="shorter side before cropping (default crop × 286/256)")
    p.add_argument("--batch-size", type=int, help=f"default {d.batch_size}")
    p.add_argument("--lr", type=float, help=f"Adam learning rate (default {d.lr:g})")
    p.add_argument("--lambda-cycle", type=float, help=f"λ of the cycle loss, both directions (Eq. 3; default "
                                                      f"{d.lambda_A:g})")
    p.add_argument("--lambda-identity", type=float, help=f"identity loss weight, as a fraction of λ (default "
                                                         f"{d.lambda_identity:g})")
    p.add_argument("--gan-mode", choices=GAN_MODES, help=f"default {d.gan_mode}")
    p.add_argument("--precision", choices=PRECISIONS, help=f"default {d.precision}: bf16 where the hardware "
                                                           f"runs it natively, else fp32")
    p.add_argument("--freeze", choices=FREEZE, help=f"default {d.freeze}: when fine-tuning a two-way model, keep its "
                                                    f"generators' early layers fixed ('early': encoder and the first "
                                                    f"half of the residual blocks; faster steps), else train all")
    p.add_argument("--domains", nargs=2, metavar=("A", "B"), help="domain names recorded in config.json")
    p.add_argument("--seed", type=int, help=f"default {d.seed}")
    p.add_argument("--preview-every", type=int, help=f"save previews/step_N.png every N steps (default "
                                                     f"{d.preview_every})")
    p.add_argument("--checkpoint-every", type=int, help=f"save a resumable checkpoint every N steps (default "
                                                        f"{d.checkpoint_every})")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available); under torchrun each "
                                                 "rank takes cuda:LOCAL_RANK")
    p.set_defaults(run=run_train)

    p = commands.add_parser("fetch", help="download a zoo model into weights/ (for offline use later)",
                            description=f"Resolve a zoo model ({', '.join(ZOO)}) and cache it in "
                                        f"{ModelStore().root}.")
    p.add_argument("names", nargs="+", choices=sorted(ZOO), metavar="NAME", help=f"one of {', '.join(ZOO)}")
    p.set_defaults(run=run_fetch)

    p = commands.add_parser("push", help="publish a model or training run to a Hugging Face Hub repo",
                            description="Upload a model folder to a Hub model repo (created if needed): config.json, "
                                        "model.safetensors, a model card (README.md) and, for a training run, its "
                                        "loss curve and previews. Never the training state, uploaded data or the "
                                        "token. The token is HF_TOKEN, else the login of `hf auth login`.")
    p.add_argument("model", metavar="MODEL", help="model folder, run folder, zoo name or name of a model in weights/")
    add_push_options(p)
    p.set_defaults(run=run_push)

    p = commands.add_parser("push-zoo", help="publish the zoo models to one Hub repo (a subfolder each)",
                            description="Upload every zoo model (fetched and converted if needed) into one Hub repo, "
                                        "subfolder <name>/ each, with their cards, in one commit. Then "
                                        "CYCLEGAN_HUB_REPO=OWNER/NAME serves the whole zoo from it.")
    add_push_options(p)
    p.add_argument("--only", nargs="+", choices=list(ZOO), metavar="NAME", help=f"only these: {', '.join(ZOO)}")
    p.set_defaults(run=run_push_zoo)
    return parser


def add_push_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", required=True, metavar="OWNER/NAME", help="the Hub model repo to publish to")
    p.add_argument("--private", action="store_true", help="create the repo private (an existing repo keeps its "
                                                          "visibility)")
    p.add_argument("--revision", metavar="BRANCH", help="publish to this branch (created from main if needed)")
    p.add_argument("--dry-run", action="store_true", help="prepare the upload folder and list it; upload nothing")
    p.add_argument("--onnx", action="store_true", help="also upload each direction as an ONNX file (onnx/AtoB.onnx, "
                                                       "onnx/BtoA.onnx: fp32, any image size)")


def train_config(args) -> TrainConfig:
    """A fresh run's TrainConfig from the options given; the rest are TrainConfig's defaults."""
    domains = args.domains or (None, None)
    given = {"steps": args.steps, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
             "crop_size": args.crop_size, "load_size": args.load_size, "lambda_A": args.lambda_cycle,
             "lambda_B": args.lambda_cycle, "lambda_identity": args.lambda_identity, "gan_mode": args.gan_mode,
             "precision": args.precision, "seed": args.seed, "preview_every": args.preview_every,
             "checkpoint_every": args.checkpoint_every, "init": args.init, "domain_a": domains[0],
             "domain_b": domains[1], "freeze": args.freeze}
    return TrainConfig(**{k: v for k, v in given.items() if v is not None}, **PRESETS[args.preset])


def run_train(args) -> int:
    """One process, or one rank of a torchrun group (then rank 0 alone prints and writes the run)."""
    device = args.device or default_device()
    if args.init and not args.resume and in_a_group():
        load(args.init, device="cpu")  # each rank fetches it now, outside the group's timeout; the loop finds it here
    dist = from_environment(device)
    try:
        return _run_train(args, dist.device(device) if dist else torch.device(device), dist)
    finally:
        shutdown()


def _run_train(args, device, dist) -> int:
    main_rank = dist is None or dist.is_main
    say = print if main_rank else (lambda *a, **k: None)
    if args.resume:
        record = RunFolder(args.resume).resume_record(steps=args.steps, epochs=args.epochs)
        config, out, resume = record.config, args.resume, True
        data_a = _data_arg(args.data_a) if args.data_a else record.data_a
        data_b = _data_arg(args.data_b) if args.data_b else record.data_b
    else:
        if not (args.data_a and args.data_b and args.out):
            print("error: --data-a, --data-b and --out are required (or --resume RUN_DIR)", file=sys.stderr)
            return 2
        if main_rank:  # the others would find rank 0's new folder
            try:
                RunFolder(args.out).require_new()
            except CycleGANError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
        data_a, data_b, out, resume = _data_arg(args.data_a), _data_arg(args.data_b), args.out, False
        config = train_config(args)
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def on_interrupt(signum, frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        if main_rank:
            tqdm.write("stopping after this step (Ctrl-C again to abort now)…", file=sys.stderr)

    for sig in previous:  # Ctrl-C, and SIGTERM from torchrun, Slurm or a cluster: stop after this step, saved
        signal.signal(sig, on_interrupt)
    bar = None
    try:
        for event in train(config, data_a, data_b, out, resume=resume, stop=stop, device=str(device), dist=dist):
            if isinstance(event, Started):
                ranks = f" on {dist.world_size} ranks (effective batch {dist.world_size * config.batch_size})" \
                    if dist else ""
                say(f"{'resuming' if event.resumed else 'training'} {event.domain_a} ↔ {event.domain_b} in "
                    f"{event.run_dir}: A {event.images_a} image(s), B {event.images_b} image(s); "
                    f"{event.precision}{ranks}; step {event.step} of {event.total_steps}")
                for label, reason in event.skipped_a + event.skipped_b:
                    say(f"skipped {label}: {reason}", file=sys.stderr)
                bar = tqdm(total=event.total_steps, initial=event.step, unit="step", file=sys.stderr,
                           disable=not main_rank)
            elif isinstance(event, StepDone):
                bar.update(1)
                bar.set_postfix_str(" ".join(f"{k}={v:.3f}" for k, v in event.losses.items()), refresh=False)
            elif isinstance(event, CheckpointSaved):
                tqdm.write(f"checkpoint saved at step {event.step}: {event.path}")
            elif isinstance(event, Finished):
                if bar is not None:
                    bar.close()
                say(f"{'stopped' if event.stopped else 'finished'} at step {event.step} of {event.total_steps}; "
                    f"translate with: python -m cyclegan_core translate --model {event.path} --direction AtoB …"
                    + (f"\nresume with: python -m cyclegan_core train --resume {event.path}" if event.stopped else ""))
    except KeyboardInterrupt:
        print(f"aborted; the last state was saved in {out}", file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _data_arg(values: list[str]):
    """One value: a folder or zip; several: a list of image files."""
    return values[0] if len(values) == 1 else values


def run_convert(args) -> int:
    model = convert_official(args.a_to_b, args.b_to_a, args.out, domains=tuple(args.domains),
                             image_size=args.image_size, provenance=args.provenance, license=args.license)
    c = model.config
    arrow = "→ (one-way)" if c.one_way else "↔"
    print(f"wrote {args.out} ({c.domain_a} {arrow} {c.domain_b}; ngf={c.ngf}, n_blocks={c.n_blocks}, norm={c.norm})")
    return 0


def run_fetch(args) -> int:
    for name in args.names:
        model = load(name, device="cpu")
        arrow = "→ (one-way)" if model.config.one_way else "↔"
        print(f"{name}: ready ({model.config.domain_a} {arrow} {model.config.domain_b})")
    return 0


def run_push(args) -> int:
    result = push_model(model_folder_for(args.model), args.repo, private=args.private, revision=args.revision,
                        dry_run=args.dry_run, onnx=args.onnx)
    if args.dry_run:
        print_dry_run([result])
        return 0
    print(f"published {args.model} to {result.url}\ncommit: {result.commit_url}")
    source = load_id(args.repo, revision=args.revision)
    print(f"load it with:\n  cyclegan_core.load(\"{source}\")\n"
          f"  python -m cyclegan_core translate --model {source} --direction AtoB IMAGE --out OUT")
    return 0


def run_push_zoo(args) -> int:
    names = args.only or list(ZOO)
    results = push_zoo(args.repo, private=args.private, revision=args.revision, names=names,
                       dry_run=args.dry_run, progress=lambda line: print(line, file=sys.stderr), onnx=args.onnx)
    if args.dry_run:
        print_dry_run(results)
        print(f"and README.md (the index of the {len(results)} model(s)) in {results[0].folder.parent}")
        return 0
    print(f"published {len(results)} zoo model(s) to {args.repo} in one commit: {results[0].commit_url}")
    for result in results:
        print(f"  {result.url}")
    print(f"serve the whole zoo from it: CYCLEGAN_HUB_REPO={load_id(args.repo, revision=args.revision)} "
          f"(a zoo name such as {names[0]} then loads from its subfolder)")
    return 0


def print_dry_run(results: list[PushResult]) -> None:
    print(f"dry run: nothing was uploaded to {results[0].repo_id}; prepared:")
    for result in results:
        print(f"{result.folder}")
        for path in result.files:
            print(f"  {path}")


def run_translate(args) -> int:
    files = expand_inputs(args.inputs)
    single = (len(files) == 1 and args.inputs[0].is_file()
              and args.out.suffix.lower() in IMAGE_SUFFIXES | set(OUTPUT_SUFFIXES))
    if not files:
        print("error: no input files found", file=sys.stderr)
        return 1
    if single and args.out.suffix.lower() in OUTPUT_SUFFIXES and not is_video(files[0]):
        print(f"error: {files[0].name} is a picture; write it as .png, .jpg or .webp, not {args.out.suffix}",
              file=sys.stderr)
        return 1
    model = load(args.model, device=args.device)
    args.direction = direction_for(model, args)
    if args.direction is None:
        return 2
    if len(files) > 1 and should_compile(model.device):  # worth it for a batch; never waited for
        model.compiler = WindowCompiler()
    targets = [args.out] if single else output_names(files, args.out)
    done, skipped, videos = 0, 0, 0
    start = time.perf_counter()
    show = {"auto": None, "on": False, "off": True}[args.progress]  # tqdm's `disable` (None: only on a terminal)
    for source, target in tqdm(list(zip(files, targets)), desc=model.describe(args.direction), unit="img",
                               disable=len(files) < 2 or args.progress == "off", file=sys.stderr):
        if is_video(source):
            try:
                translate_video_file(model, source, target if single else target.with_suffix(video_suffix(source)),
                                     args)
                done, videos = done + 1, videos + 1
            except VideoError as e:
                skipped += 1
                tqdm.write(f"{'error' if single else 'skipped'}: {e}", file=sys.stderr)
            continue
        bar = tqdm(total=100, desc=source.name, unit="%", delay=1.0, leave=single, disable=show, file=sys.stderr,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} elapsed, {remaining} left")
        try:
            result = model.translate(source, args.direction, precision=args.precision, max_pixels=args.max_pixels,
                                     progress=lambda fraction, bar=bar: bar.update(round(100 * fraction) - bar.n))
        except ImageError as e:
            bar.close()
            skipped += 1
            tqdm.write(f"{'error' if single else 'skipped'}: {e}", file=sys.stderr)
            continue
        bar.close()
        target.parent.mkdir(parents=True, exist_ok=True)
        save_image(result, target)
        done += 1
    if not single:
        print(f"translated {done - videos} image(s)" + (f" and {videos} video(s)" if videos else "")
              + f" into {args.out} in {time.perf_counter() - start:.1f} s"
              + (f"; skipped {skipped}" if skipped else ""))
    elif done and not is_video(files[0]):
        print(f"wrote {args.out}")
    return 0 if done else 1


def video_suffix(source: Path) -> str:
    """A video's output keeps its container; a .gif becomes an .mp4 (H.264)."""
    suffix = source.suffix.lower()
    return suffix if suffix in OUTPUT_SUFFIXES else ".mp4"


def translate_video_file(model, source: Path, target: Path, args) -> None:
    """One video, with a progress line every tenth of its frames (unless --progress off) and a summary."""
    def say(update: VideoProgress) -> None:
        every = max(1, update.frames // 10) if update.stage == "translating" else update.frames  # the shots: once
        if args.progress == "off" or (update.frame % every and update.frame != update.frames):
            return
        left = f", {update.seconds_left:.1f} s left" if update.seconds_left is not None else ""
        what = "finding shots" if update.stage == "shots" else f"shot {update.shot}"
        tqdm.write(f"{source.name}: {update.frame}/{update.frames} frames ({what}), {update.elapsed:.1f} s elapsed"
                   f"{left}", file=sys.stderr)

    result = model.translate_video(source, args.direction, target, stats=args.stats, precision=args.precision,
                                   progress=say, max_pixels=args.max_pixels, max_seconds=args.max_seconds)
    sound = ("no sound" if not result.audio else "sound re-encoded" if result.audio_reencoded else "sound copied")
    print(f"wrote {target} ({result.frames} frames, {result.fps:g} fps, {result.width}×{result.height}, "
          f"{result.seconds:.2f} s, {result.shots} shot(s), {args.stats} statistics, {sound}; "
          f"{result.elapsed:.1f} s)")


def direction_for(model, args) -> str | None:
    """`--direction` as given; for a one-way model, AtoB when left out. A two-way model without it: None,
    after saying which two there are."""
    if args.direction is not None or model.one_way:
        return args.direction or "AtoB"
    print(f"error: {args.model} translates both ways: add --direction AtoB "
          f"({model.config.domain_a} → {model.config.domain_b}) or --direction BtoA "
          f"({model.config.domain_b} → {model.config.domain_a})", file=sys.stderr)
    return None


def run_export(args) -> int:
    model = load(args.model, device="cpu")
    args.direction = direction_for(model, args)
    if args.direction is None:
        return 2
    to_onnx(model, args.direction, args.precision, args.out)
    size = args.out.stat().st_size / 2**20
    print(f"wrote {args.out} ({model.describe(args.direction)}, {args.precision}, {size:.1f} MB)")
    return 0


def expand_inputs(inputs: list[Path]) -> list[Path]:
    """Files as given; folders → their files (recursively, sorted). Non-images are skipped later."""
    files = []
    for item in inputs:
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            files.append(item)
    return files


def output_names(files: list[Path], out: Path) -> list[Path]:
    """`out/<stem>.png` for each input, made unique when two inputs share a stem."""
    names, seen = [], set()
    for f in files:
        name = f"{f.stem}.png"
        n = 1
        while name in seen:
            name = f"{f.stem}-{n}.png"
            n += 1
        seen.add(name)
        names.append(out / name)
    return names


def save_image(image, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        image.save(path, quality=95)
    else:
        image.save(path)
