"""Translate-tab tasks: a model source plus a direction, with the label a person reads and its group.

Labels: built-in and zoo directions read "horse → zebra"; other models read "my-cats: cat → dog". A
one-way model (released with G only) has one task: no reverse direction is ever listed for it. For
programmatic use any task may also be written "SOURCE:AtoB" / "SOURCE:BtoA", where SOURCE is a
source a visitor may name (`cyclegan_core.public_sources`): a zoo name, a model of the store by its
name, or a Hub repo id; never a path on the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from cyclegan_core import ZOO, CycleGANError, ModelStore
from cyclegan_core.sources.packaged import PACKAGED
from cyclegan_core.sources.zoo import GROUPS
from cyclegan_core.training.store import StoredModel

BUILTIN_GROUP = "Built in (works offline)"
YOUR_GROUP = "Your models"
HUB_GROUP = "From the Hub"
TASK_GROUPS = (BUILTIN_GROUP, *GROUPS, YOUR_GROUP, HUB_GROUP)


@dataclass(frozen=True)
class Task:
    source: str
    direction: str  # "AtoB" or "BtoA"
    label: str
    group: str = ""
    one_way: bool = False  # the model has no reverse generator: no cycle for this task


def packaged_tasks() -> list[Task]:
    return [Task(name, "AtoB", f"{p.domain_a} → {p.domain_b}", BUILTIN_GROUP, True) for name, p in PACKAGED.items()]


def zoo_tasks() -> list[Task]:
    """Every zoo model's directions, group by group (GROUPS' order), A → B before B → A."""
    tasks = []
    for name, entry in ZOO.items():
        tasks.append(Task(name, "AtoB", f"{entry.domain_a} → {entry.domain_b}", entry.group, entry.one_way))
        if not entry.one_way:
            tasks.append(Task(name, "BtoA", f"{entry.domain_b} → {entry.domain_a}", entry.group))
    order = list(ZOO)
    return sorted(tasks, key=lambda t: (GROUPS.index(t.group), order.index(t.source), t.direction))


def model_tasks(source: str, name: str, domain_a: str, domain_b: str, one_way: bool = False,
                group: str = YOUR_GROUP) -> list[Task]:
    tasks = [Task(source, "AtoB", f"{name}: {domain_a} → {domain_b}", group, one_way)]
    if not one_way:
        tasks.append(Task(source, "BtoA", f"{name}: {domain_b} → {domain_a}", group))
    return tasks


def local_tasks(store: ModelStore | None = None, visible: Callable[[StoredModel], bool] | None = None) -> list[Task]:
    """The directions of every model in the local store that is not a zoo model (and is `visible`), by
    the names a visitor knows (`ModelStore.visible_models`; without `visible`: every model, by folder)."""
    store = store or ModelStore()
    tasks = []
    for model in store.models() if visible is None else store.visible_models(visible):
        c = model.config
        tasks += model_tasks(model.name, model.name, c.domain_a, c.domain_b, c.one_way)
    return tasks


def all_tasks(extra: list[Task] = (), store: ModelStore | None = None,
              visible: Callable[[StoredModel], bool] | None = None) -> list[Task]:
    """Built-in, zoo, then local models, then `extra` (e.g. Hub models loaded in this session); labels
    unique."""
    seen, tasks = set(), []
    for task in [*packaged_tasks(), *zoo_tasks(), *local_tasks(store, visible), *extra]:
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
    shown = text if len(text) <= 80 else text[:80] + "…"  # never echo a long input back
    raise CycleGANError(f"unknown task {shown!r}: choose one of the listed tasks "
                        f"(e.g. {known[0].label!r}) or write SOURCE:AtoB / SOURCE:BtoA")
