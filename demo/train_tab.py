"""The Train tab: fine-tune on two uploaded unpaired image sets, watch it learn, use the result.

Events (public API): `train` streams the run (status, loss plot, previews, download) and
`stop` ends it after the current step; `resume` (UI) continues the session's last run. Runs
live in `weights/<name>/` with a copy of their data, so they survive restarts and show up in
the Translate tab at once.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from cyclegan_core import ZOO, CycleGANError, is_model_folder, weights_dir
from cyclegan_core.train import (LOG_NAME, LOSS_NAMES, PRESETS, RUN_NAME, STATE_NAME, CheckpointSaved, Finished,
                                 Preview, Started, StepDone, TrainConfig, read_run, train)

from .errors import user_errors
from .model_cache import ModelCache
from .training import TrainingSlot, eta_text, inspect_domain, loss_rows, new_run_dir, zip_model
from .translate_tab import task_choices

SMALL_PRESET = "small model from scratch (ngf 32, 6 blocks)"
PREVIEW_EVERY = 10
NEAREST_ZOO = {"summer2winter": ("summer", "winter", "season", "snow", "landscape", "day", "night", "autumn",
                                 "spring", "photo", "mountain"),
               "horse2zebra": ("horse", "zebra", "animal", "cat", "dog", "cow", "tiger", "pony", "donkey")}
CAPTIONS = {"real_A": "real {a}", "fake_B": "→ {b} (G)", "rec_A": "→ back to {a} (F)",
            "real_B": "real {b}", "fake_A": "→ {a} (F)", "rec_B": "→ back to {b} (G)"}


def init_choices() -> list[tuple[str, str]]:
    choices = [(SMALL_PRESET, "")]
    choices += [(f"{name} (official, {e.domain_a} ↔ {e.domain_b})", name) for name, e in ZOO.items()]
    folder = weights_dir()
    if folder.is_dir():
        choices += [(f"{p.name} (your model)", str(p)) for p in sorted(folder.iterdir())
                    if p.name not in ZOO and is_model_folder(p)]
    return choices


def resumable_runs() -> list[str]:
    """Run folders in weights/ that hold a training state (finished, stopped or interrupted)."""
    folder = weights_dir()
    if not folder.is_dir():
        return []
    return [p.name for p in sorted(folder.iterdir()) if (p / STATE_NAME).is_file() and (p / RUN_NAME).is_file()]


def nearest_init(name_a: str, name_b: str) -> str:
    words = f"{name_a} {name_b}".lower()
    for zoo_name, keywords in NEAREST_ZOO.items():
        if any(k in words for k in keywords):
            return zoo_name
    return ""


def copy_uploads(files: list[str], folder: Path) -> Path:
    """Keep a run's data with the run, so Resume works after a restart."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(files):
        shutil.copy2(f, folder / f"{i:05d}-{Path(f).name}")
    return folder


def build_train_tab(demo: gr.Blocks, cache: ModelCache, slot: TrainingSlot, task: gr.Dropdown,
                    extra: gr.State) -> None:
    gr.Markdown("Upload two sets of photos that were **never paired** (say, your cats and your dogs), "
                "press Start, and watch both translations learn. Fine-tuning an existing model is what makes a "
                "short run on a CPU useful; the loss plot and the previews update as it trains.")
    domains = []
    with gr.Row(equal_height=False):
        for key, default in (("a", "A"), ("b", "B")):
            with gr.Column(variant="panel"):
                name = gr.Textbox(value=default, label=f"Domain {default}: name", elem_id=f"name-{key}")
                files = gr.File(file_count="multiple", type="filepath", label=f"Domain {default}: images or zip "
                                f"files", elem_id=f"files-{key}")
                folder = gr.UploadButton(f"Add a folder to {default}", file_count="directory",
                                         elem_id=f"folder-{key}")
                info = gr.Markdown(f"**{default}**: no files yet.", elem_id=f"info-{key}")
            domains.append((name, files, folder, info))
    with gr.Row():
        init = gr.Dropdown(choices=init_choices(), value="", label="Start from", elem_id="init", scale=2)
        steps = gr.Slider(10, 5000, value=300, step=10, label="Steps", elem_id="steps")
        crop = gr.Dropdown([64, 96, 128, 192, 256], value=128, label="Crop size (px)", elem_id="crop")
    with gr.Accordion("More settings", open=False):
        with gr.Row():
            precision = gr.Radio(["auto", "fp32", "bf16"], value="auto", label="Precision",
                                 info="auto: bf16 only where the CPU runs it natively")
            lambda_cycle = gr.Slider(0, 20, value=10, step=0.5, label="λ cycle (Eq. 2)")
            lambda_identity = gr.Slider(0, 1, value=0.5, step=0.05, label="λ identity (× λ cycle)")
            run_name = gr.Textbox(label="Model name", placeholder="default: <A>2<B>", elem_id="run-name")
    with gr.Row():
        start = gr.Button("Start training", variant="primary", elem_id="train-start")
        stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
    with gr.Row():
        run_choice = gr.Dropdown(choices=resumable_runs(), value=None, label="Run to resume", elem_id="resume-run",
                                 scale=2)
        resume = gr.Button("Resume", elem_id="train-resume")
    status = gr.Markdown("", elem_id="train-status")
    plot = gr.LinePlot(x="step", y="loss", color="term", label="Losses", elem_id="loss-plot", height=320)
    gallery = gr.Gallery(label="Previews: real → translated → back", columns=3, elem_id="previews", format="png")
    download = gr.File(label="Your model (config.json + model.safetensors, zipped)", elem_id="train-download")
    outputs = [status, plot, gallery, download, task, run_choice]

    def stream(events, run_dir: Path, extra_tasks, progress):
        records = json.loads((run_dir / LOG_NAME).read_text())["records"] if (run_dir / LOG_NAME).is_file() else []
        names = ("A", "B")
        last_plot = 0.0
        with contextlib.closing(events):
            for event in events:
                if isinstance(event, Started):
                    names = (event.domain_a, event.domain_b)
                    skipped = len(event.skipped_a) + len(event.skipped_b)
                    yield (f"{'Resuming' if event.resumed else 'Training'} **{names[0]} ↔ {names[1]}** in "
                           f"`{run_dir.name}`: {event.images_a} + {event.images_b} images"
                           + (f" (skipped {skipped} unusable file(s))" if skipped else "")
                           + f", {event.precision}; step {event.step} of {event.total_steps}. "
                             f"The first steps measure the speed…",
                           gr.skip(), gr.skip(), gr.skip(), gr.skip(),
                           gr.Dropdown(choices=resumable_runs() + [run_dir.name], value=run_dir.name))
                elif isinstance(event, StepDone):
                    records.append({"step": event.step, **event.losses})
                    progress((event.step, event.total_steps), desc="training", unit="steps")
                    if time.monotonic() - last_plot > 2.0 or event.step == event.total_steps:
                        last_plot = time.monotonic()
                        left = eta_text(event.seconds_per_step, event.total_steps - event.step)
                        yield (f"Step **{event.step} / {event.total_steps}** · {event.seconds_per_step:.2f} s/step · "
                               f"about {left} left · cycle A {event.losses['cycle_A']:.3f}, "
                               f"D_B {event.losses['D_B']:.3f}", pd.DataFrame(loss_rows(records, LOSS_NAMES)),
                               gr.skip(), gr.skip(), gr.skip(), gr.skip())
                elif isinstance(event, Preview):
                    a, b = names
                    pictures = [(img, CAPTIONS[key].format(a=a, b=b)) for key, img in event.images.items()]
                    yield gr.skip(), gr.skip(), pictures, gr.skip(), gr.skip(), gr.skip()
                elif isinstance(event, CheckpointSaved):
                    cache.forget(str(run_dir))
                elif isinstance(event, Finished):
                    cache.forget(str(run_dir))
                    archive = zip_model(run_dir, Path(tempfile.mkdtemp(prefix="cyclegan-download-")))
                    word = "Stopped" if event.stopped else "Finished"
                    label = f"{run_dir.name}: {names[0]} → {names[1]}"
                    yield (f"{word} at step **{event.step} / {event.total_steps}**; everything is saved in "
                           f"`{run_dir}`. Translate with **{label}** in the Translate tab"
                           + (", or press Resume to continue." if event.stopped else "."),
                           pd.DataFrame(loss_rows(records, LOSS_NAMES)), gr.skip(), str(archive),
                           gr.Dropdown(choices=task_choices(extra_tasks), value=label),
                           gr.Dropdown(choices=resumable_runs(), value=run_dir.name))

    @user_errors
    def start_training(files_a, files_b, name_a, name_b, init_source, n_steps, crop_size, precision_choice,
                       lambda_c, lambda_i, model_name, extra_tasks, progress=gr.Progress()):
        name_a, name_b = (name_a or "A").strip(), (name_b or "B").strip()
        for label, files in ((name_a, files_a), (name_b, files_b)):
            if not files:
                raise CycleGANError(f"domain {label} has no images yet: drop image files, a folder or a zip")
        run_dir = new_run_dir(model_name or f"{name_a}2{name_b}")
        config = TrainConfig(steps=int(n_steps), crop_size=int(crop_size),
                             load_size=round(int(crop_size) * 286 / 256), precision=precision_choice,
                             lambda_A=float(lambda_c), lambda_B=float(lambda_c), lambda_identity=float(lambda_i),
                             init=init_source or None, domain_a=name_a, domain_b=name_b,
                             preview_every=PREVIEW_EVERY, checkpoint_every=max(50, int(n_steps) // 5),
                             **PRESETS["small"])
        with slot.hold(run_dir) as stop_flag:
            data_a = copy_uploads(files_a, run_dir / "data" / "A")
            data_b = copy_uploads(files_b, run_dir / "data" / "B")
            try:
                yield from stream(train(config, data_a, data_b, run_dir, stop=stop_flag), run_dir, extra_tasks,
                                  progress)
            except Exception:
                if not is_model_folder(run_dir):  # nothing was trained: drop the copied uploads
                    shutil.rmtree(run_dir, ignore_errors=True)
                raise

    @user_errors
    def resume_training(run_name, n_steps, extra_tasks, progress=gr.Progress()):
        if not run_name:
            raise CycleGANError("choose a run to resume")
        run_dir = weights_dir() / Path(run_name).name
        config, data_a, data_b = read_run(run_dir)
        done = len(json.loads((run_dir / LOG_NAME).read_text())["records"]) if (run_dir / LOG_NAME).is_file() else 0
        config = config.replace(steps=max(config.steps, int(n_steps)))
        if done >= config.steps:
            raise CycleGANError(f"{run_dir.name} has finished its {config.steps} steps; raise Steps to train longer")
        with slot.hold(run_dir) as stop_flag:
            events = train(config, data_a, data_b, run_dir, resume=True, stop=stop_flag)
            yield from stream(events, run_dir, extra_tasks, progress)

    def describe(files, name):
        return inspect_domain(files, (name or "").strip() or "?")[1]

    def add_folder(new, current):
        return [*(current or []), *(new or [])]

    def suggest_init(name_a, name_b, current):
        if current in ("", *ZOO):  # only replace our own suggestion, never the user's pick
            return gr.Dropdown(choices=init_choices(), value=nearest_init(name_a or "", name_b or ""))
        return gr.Dropdown(choices=init_choices())

    for (name, files, folder, info), key in zip(domains, "ab"):
        folder.upload(add_folder, [folder, files], files, api_visibility="private")
        files.change(describe, [files, name], info, api_name=f"inspect_{key}")
    names = [domains[0][0], domains[1][0]]
    gr.on([n.blur for n in names] + [n.submit for n in names], suggest_init, [*names, init], init,
          api_visibility="private")

    start.click(start_training, inputs=[domains[0][1], domains[1][1], domains[0][0], domains[1][0], init, steps, crop,
                                       precision, lambda_cycle, lambda_identity, run_name, extra],
                outputs=outputs, api_name="train", concurrency_limit=1, concurrency_id="train")
    resume.click(resume_training, inputs=[run_choice, steps, extra], outputs=outputs, api_name="resume",
                 concurrency_limit=1, concurrency_id="train")
    stop.click(slot.request_stop, outputs=status, api_name="stop", queue=False)
    demo.load(lambda: (gr.Dropdown(choices=init_choices()), gr.Dropdown(choices=resumable_runs())),
              outputs=[init, run_choice], api_visibility="private")
