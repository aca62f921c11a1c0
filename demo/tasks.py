"""Translate-tab tasks: a model source plus a direction, with the label a person reads.

Labels: zoo directions read "horse → zebra"; other models read "my-cats: cat → dog". For
programmatic use any task may also be written "SOURCE:AtoB" / "SOURCE:BtoA", where SOURCE is a
source a visitor may name (`cyclegan_core.public_sources`): a zoo name, a model of the store by its
name, or a Hub repo id; never a path on the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from cyclegan_core import ZOO, CycleGANError, ModelStore
from cyclegan_core.store import StoredModel


@dataclass(frozen=True)
class Task:
    source: str
    direction: str  # "AtoB" or "BtoA"
    label: str


def zoo_tasks() -> list[Task]:
    tasks = []
    for name, entry in ZOO.items():
        tasks.append(Task(name, "AtoB", f"{entry.domain_a} → {entry.domain_b}"))
        tasks.append(Task(name, "BtoA", f"{entry.domain_b} → {entry.domain_a}"))
    return sorted(tasks, key=lambda t: (t.source != "summer2winter", t.source, t.direction))


def model_tasks(source: str, name: str, domain_a: str, domain_b: str) -> list[Task]:
    return [Task(source, "AtoB", f"{name}: {domain_a} → {domain_b}"),
            Task(source, "BtoA", f"{name}: {domain_b} → {domain_a}")]


def local_tasks(store: ModelStore | None = None, visible: Callable[[StoredModel], bool] | None = None) -> list[Task]:
    """Both directions of every model in the local store that is not a zoo model (and is `visible`)."""
    tasks = []
    for model in (store or ModelStore()).models():
        if visible is None or visible(model):
            tasks += model_tasks(model.name, model.name, model.config.domain_a, model.config.domain_b)
    return tasks


def all_tasks(extra: list[Task] = (), store: ModelStore | None = None,
              visible: Callable[[StoredModel], bool] | None = None) -> list[Task]:
    """Zoo, then local models, then `extra` (e.g. Hub models loaded in this session); labels unique."""
    seen, tasks = set(), []
    for task in [*zoo_tasks(), *local_tasks(store, visible), *extra]:
        if task.label not in seen:
            seen.add(task.label)
            tasks.append(task)
    return tasks


def parse_task(text: str, known: list[Task]) -> Task:
    """A label from `known`, or 'SOURCE:AtoB' / 'SOURCE:BtoA'."""
    text = (text or "").strip()
    for task in known:
        if task.label == text:
            return task
    source, sep, direction = text.rpartition(":")
    if sep and direction in ("AtoB", "BtoA") and source:
        return Task(source, direction, text)
    raise CycleGANError(f"unknown task {text!r}: choose one of the listed tasks "
                        f"(e.g. {known[0].label!r}) or write SOURCE:AtoB / SOURCE:BtoA")
