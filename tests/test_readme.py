"""Every code block of README.md and docs/*.md runs here, or is excused in NOT_RUN with its reason.

- ```python blocks are exec'd, each in a fresh namespace;
- shell blocks (```bash, ```sh, ```shell, ```console) in which every command is
  `python -m cyclegan_core …` go through `cyclegan_core.cli.main`, one command at a time;
- anything else (pip, torchrun, Slurm, the app, file layouts) must be in NOT_RUN.

A page's blocks run in their order on the page, in a fresh working folder that holds the files the
examples name (horse.jpg, photos/, cats/, dogs.zip, the official .pth files, …). The zoo comes from
the loopback upstream (`zoo_upstream`) with tiny generators, and the Hub is a loopback `FakeHub`.
The examples' sizes and step counts are cut down (SHRINK for Python, `shrunk` for the CLI): 32²
crops and 2 steps. A block that is neither runnable nor excused fails
`test_every_block_runs_or_is_excused`, so a new example cannot go untested by accident."""

import re
import shlex
import zipfile
from dataclasses import dataclass

import huggingface_hub.constants as hf
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, official_pth_bytes
from servers import FakeHub

PAGES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", flags=re.M | re.S)
SHELL = {"bash", "sh", "shell", "console"}
CLI = ["python", "-m", "cyclegan_core"]

# The blocks that do not run here, by (page, first line of the block), each with its reason.
NOT_RUN = {
    ("README.md", "pip install -r requirements.txt && python app.py"):
        "installs packages, then serves the app until stopped; tests/test_app_entry.py runs `python app.py`",
    ("README.md", "pip install -r requirements-dev.txt && python -m pytest"):
        "installs packages and runs this test suite, which a test cannot do; .ci/run does it in CI",
    ("README.md", "demo → cli → publish | public_sources → teaching | export → training → sources → model → "
                  "engine → nn → paths | atomic | errors"):
        "the layer diagram, not a command; lint-imports checks the contract in pyproject.toml",
    ("docs/app.md", "pip install -r requirements.txt && python app.py"):
        "installs packages, then serves the app until stopped; tests/test_app_entry.py runs `python app.py`",
    ("docs/app.md", "from gradio_client import Client, handle_file"):
        "needs a running app; tests/test_app.py and tests/test_train_app.py make these calls against one",
    ("docs/architecture.md", "demo                                  the Gradio app (not part of the core)"):
        "the layer diagram, not a command; lint-imports checks the contract in pyproject.toml",
    ("docs/training.md", "# one machine, 4 GPUs (one process each; --device defaults to cuda where there is one)"):
        "torchrun on several GPUs and machines; tests/test_distributed.py runs the same training on CPU processes",
    ("docs/training.md", "#!/bin/bash"):
        "a Slurm batch script: needs a cluster",
    ("docs/zoo.md", 'config.json         {"format_version": 1, "ngf": 64, "n_blocks": 9, "norm": "instance",'):
        "a model folder's layout, not a command; tests/test_model_folder.py checks the format",
}

# What the Python examples say → what runs here (tiny sizes, two steps). Each must still be used.
SHRINK = {
    "TrainConfig(steps=500,": "TrainConfig(steps=2, crop_size=32,",
    "crop_size=128": "crop_size=32",
    "torch.rand(1, 3, 128, 128)": "torch.rand(1, 3, 32, 32)",
}


@dataclass(frozen=True)
class Block:
    page: str
    language: str
    code: str

    @property
    def key(self) -> tuple[str, str]:
        return self.page, next((line.strip() for line in self.code.splitlines() if line.strip()), "")

    @property
    def commands(self) -> list[list[str]] | None:
        """The CLI arguments of each command of a shell block whose every command is
        `python -m cyclegan_core …`; None for any other block."""
        if self.language not in SHELL:
            return None
        commands = []
        for line in self.code.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if not words:
                continue
            if words[:3] != CLI:
                return None
            commands.append(words[3:])
        return commands or None

    @property
    def runnable(self) -> bool:
        return self.key not in NOT_RUN and (self.language == "python" or self.commands is not None)


def blocks(page: str) -> list[Block]:
    text = (ROOT / page).read_text(encoding="utf-8")
    return [Block(page, language, code) for language, code in FENCE.findall(text)]


ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]


def shrunk(args: list[str]) -> list[str]:
    """A `train` command with 2 steps (3 when resuming a 2-step run) and 32² crops."""
    if args[0] != "train":
        return args
    args = list(args)
    resume = "--resume" in args
    if "--steps" in args:
        args[args.index("--steps") + 1] = "3" if resume else "2"
    if not resume and "--crop-size" not in args:
        args += ["--crop-size", "32"]
    return args


def test_every_block_runs_or_is_excused():
    assert PAGES[0] == "README.md" and "docs/README.md" in PAGES
    neither = [f"{b.page}: ```{b.language} starting {b.key[1]!r}" for b in ALL_BLOCKS
               if not b.runnable and b.key not in NOT_RUN]
    assert not neither, ("these blocks neither run in this test nor are excused in NOT_RUN (a shell block runs "
                         "only if every command is `python -m cyclegan_core …`):\n" + "\n".join(neither))
    keys = [b.key for b in ALL_BLOCKS]
    stale = {key: keys.count(key) for key in NOT_RUN if keys.count(key) != 1}
    assert not stale, f"each NOT_RUN entry must name exactly one block (entry: blocks it matches): {stale}"
    runnable = [b for b in ALL_BLOCKS if b.runnable]
    used = [old for old in SHRINK if any(old in b.code for b in runnable if b.language == "python")]
    assert used == list(SHRINK), "a SHRINK entry no longer matches any example: remove it"
    readme = [b for b in runnable if b.page == "README.md"]
    assert sum(b.language == "python" for b in readme) >= 3 and sum(b.commands is not None for b in readme) >= 2


def pictures(folder, count: int, seed: int):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(folder / f"{i}.png")


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A loopback Hub to publish to, with a test token and no real login read or written."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setattr(hf, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    monkeypatch.setattr(hf, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf-home" / "stored_tokens"))
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_ReadmeTestToken0123456789")
    with FakeHub({}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture
def example_files(tmp_path, monkeypatch, photo, tiny_model, zoo_upstream, offline_sandbox):
    """A working folder with every file the examples name, a model `my-model` in the store, and a
    generator for every zoo file upstream (`push-zoo` publishes the whole zoo)."""
    from cyclegan_core import ZOO, save_model

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    photo.save("horse.jpg")
    photo.crop((0, 0, 96, 80)).save("cat.jpg")
    photo.crop((0, 0, 96, 64)).save("photo.jpg")  # the built-in vintage model's example (a 9-block network)
    for folder, seed in (("photos/a", 0), ("photos/b", 1), ("cats", 2)):
        pictures(work / folder, 2, seed)
    pictures(work / "dog-pictures", 2, 3)
    with zipfile.ZipFile("dogs.zip", "w") as dogs:
        for path in sorted((work / "dog-pictures").iterdir()):
            dogs.write(path, path.name)
    for seed, stem in enumerate(("horse2zebra", "zebra2horse", "style_monet")):
        (work / f"{stem}.pth").write_bytes(official_pth_bytes(seed))
    stems = sorted({stem for entry in ZOO.values() for stem in entry.files})
    for seed, stem in enumerate(stems):
        zoo_upstream.files.setdefault(f"{stem}.pth", official_pth_bytes(100 + seed))
    save_model(tiny_model, offline_sandbox / "weights" / "my-model")
    return work


def a_run_to_publish(work, tiny_model):
    from cyclegan_core import save_model
    save_model(tiny_model, work / "runs" / "cats2dogs")


# What a page's examples take as given, made by another page's examples (training.md trains runs/cats2dogs).
PREPARE = {"docs/zoo.md": a_run_to_publish}
# What the examples leave behind, checked after a page ran (beyond every command's exit status 0).
EXPECTED = {
    "README.md": ["zebra.png", "runs/cats2dogs/model.safetensors", "runs/x/model.safetensors", "cycle_error.png"],
    "docs/training.md": ["dog.png", "runs/cats2dogs/training_state.safetensors", "runs/x/log.json"],
    "docs/zoo.md": ["weights/horse2zebra/model.safetensors", "weights/style_monet/model.safetensors"],
}
PUBLISHED = {"docs/zoo.md": {"you/cats2dogs", "you/my-model", "you/cyclegan-zoo"}}  # repos on the loopback Hub after


@pytest.mark.parametrize("page", [page for page in PAGES if any(b.runnable for b in blocks(page))])
def test_the_examples_of_each_page_run_in_order(page, example_files, hub, tiny_model):
    from cyclegan_core.cli import main

    if page in PREPARE:
        PREPARE[page](example_files, tiny_model)
    for number, block in enumerate(blocks(page), 1):
        if not block.runnable:
            continue
        if block.language == "python":
            code = block.code
            for old, new in SHRINK.items():
                code = code.replace(old, new)
            namespace = {"__name__": "__example__"}
            exec(compile(code, f"{page}, block {number}", "exec"), namespace)  # noqa: S102 — our own docs
        else:
            for args in block.commands:
                args = shrunk(args)
                assert main(args) == 0, f"{page}, block {number}: python -m cyclegan_core {shlex.join(args)}"
    missing = [name for name in EXPECTED.get(page, []) if not (example_files / name).exists()]
    assert not missing, f"{page}'s examples did not make {missing}"
    assert PUBLISHED.get(page, set()) <= set(hub.repos), f"{page}'s examples published only {sorted(hub.repos)}"


PATH = re.compile(r"(?<![\w/.])((?:cyclegan_core|demo|tests|benchmarks|scripts|docs)/[\w./-]*\w)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", [*PAGES, "benchmarks/README.md"])
def test_the_paths_and_links_of_each_page_exist(page):
    """Every repository path a page names (`cyclegan_core/engine/streaming.py`, `tests/test_app.py::…`)
    and every relative link exists, so a moved module cannot leave the docs behind."""
    text = (ROOT / page).read_text(encoding="utf-8")
    named = {path.rstrip(".") for path in PATH.findall(text)}
    missing = sorted(path for path in named if not (ROOT / path).exists())
    links = {link for link in LINK.findall(text) if "://" not in link}
    broken = sorted(link for link in links if not ((ROOT / page).parent / link).exists())
    assert not missing and not broken, f"{page} names paths that do not exist: {missing}; broken links: {broken}"
