"""Command line: `python -m cyclegan_core {convert,translate,fetch} …` (each has --help)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from .convert import convert_official
from .errors import CycleGANError, ImageError
from .inference import PRECISIONS
from .model import DIRECTIONS
from .sources import load
from .zoo import ZOO, weights_dir

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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

    p = commands.add_parser("convert", help="convert the reference implementation's two .pth generators "
                                            "into a model folder",
                            description="Convert two official generator files (A→B and B→A) into a model folder "
                                        "(config.json + model.safetensors).")
    p.add_argument("a_to_b", type=Path, help="generator A→B, e.g. horse2zebra.pth")
    p.add_argument("b_to_a", type=Path, help="generator B→A, e.g. zebra2horse.pth")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--domains", nargs=2, metavar=("A", "B"), default=("A", "B"), help="domain names, e.g. horse zebra")
    p.add_argument("--image-size", type=int, default=256, help="training crop size to record (default 256)")
    p.add_argument("--provenance", default="", help="where the weights come from (recorded in config.json)")
    p.add_argument("--license", default="", help="licence note (recorded in config.json)")
    p.set_defaults(run=run_convert)

    p = commands.add_parser("translate", help="translate images with a model",
                            description="Translate images at full resolution. One file → --out is a file; "
                                        "several files or a folder → --out is a folder (PNG files).")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files or folders")
    p.add_argument("--model", required=True, help=f"model folder, zoo name ({', '.join(ZOO)}) or Hub repo id")
    p.add_argument("--direction", required=True, choices=DIRECTIONS, help="AtoB (the paper's G) or BtoA (F)")
    p.add_argument("--out", type=Path, required=True, help="output file (one input) or folder")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: bf16 where the hardware supports it, else fp32 (default); fp32: exact reference parity")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--max-pixels", type=int, default=None, help="refuse images larger than this many pixels")
    p.set_defaults(run=run_translate)

    p = commands.add_parser("fetch", help="download a zoo model into weights/ (for offline use later)",
                            description=f"Resolve a zoo model ({', '.join(ZOO)}) and cache it in {weights_dir()}.")
    p.add_argument("names", nargs="+", choices=sorted(ZOO), metavar="NAME", help=f"one of {', '.join(ZOO)}")
    p.set_defaults(run=run_fetch)
    return parser


def run_convert(args) -> int:
    model = convert_official(args.a_to_b, args.b_to_a, args.out, domains=tuple(args.domains),
                             image_size=args.image_size, provenance=args.provenance, license=args.license)
    c = model.config
    print(f"wrote {args.out} ({c.domain_a} ↔ {c.domain_b}; ngf={c.ngf}, n_blocks={c.n_blocks}, norm={c.norm})")
    return 0


def run_fetch(args) -> int:
    for name in args.names:
        model = load(name, device="cpu")
        print(f"{name}: ready ({model.config.domain_a} ↔ {model.config.domain_b})")
    return 0


def run_translate(args) -> int:
    files = expand_inputs(args.inputs)
    single = len(files) == 1 and args.inputs[0].is_file() and args.out.suffix.lower() in IMAGE_SUFFIXES
    if not files:
        print("error: no input files found", file=sys.stderr)
        return 1
    model = load(args.model, device=args.device)
    targets = [args.out] if single else output_names(files, args.out)
    done, skipped = 0, 0
    start = time.perf_counter()
    for source, target in tqdm(list(zip(files, targets)), desc=model.describe(args.direction), unit="img",
                               disable=len(files) < 2, file=sys.stderr):
        try:
            result = model.translate(source, args.direction, precision=args.precision, max_pixels=args.max_pixels)
        except ImageError as e:
            skipped += 1
            tqdm.write(f"{'error' if single else 'skipped'}: {e}", file=sys.stderr)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        save_image(result, target)
        done += 1
    if not single:
        print(f"translated {done} image(s) into {args.out} in {time.perf_counter() - start:.1f} s"
              + (f"; skipped {skipped}" if skipped else ""))
    elif done:
        print(f"wrote {args.out}")
    return 0 if done else 1


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
