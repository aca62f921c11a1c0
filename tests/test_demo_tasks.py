"""demo/tasks.py: the Translate tab's task list and how a task is parsed."""

import pytest

from cyclegan_core import CycleGANError, save_model
from demo.tasks import Task, all_tasks, local_tasks, parse_task, zoo_tasks


def test_zoo_tasks_cover_the_four_directions():
    labels = [t.label for t in zoo_tasks()]
    assert labels == ["summer → winter", "winter → summer", "horse → zebra", "zebra → horse"]
    assert parse_task("zebra → horse", zoo_tasks()) == Task("horse2zebra", "BtoA", "zebra → horse")


def test_local_models_are_listed_with_both_directions(tiny_model, offline_sandbox):
    weights = offline_sandbox / "weights"
    save_model(tiny_model, weights / "fruit")
    (weights / "not-a-model").mkdir()
    save_model(tiny_model, weights / "horse2zebra")  # a cached zoo model is not listed twice
    tasks = local_tasks()
    assert [(t.label, t.direction) for t in tasks] == [("fruit: apple → orange", "AtoB"),
                                                      ("fruit: orange → apple", "BtoA")]
    assert tasks[0].source == "fruit"  # by name: the app never hands out server paths
    assert len(all_tasks()) == 6
    extra = Task("someone/x", "AtoB", "fruit: apple → orange")  # same label as a local task: listed once
    assert len(all_tasks([extra])) == 6


def test_parse_task_explicit_form_and_errors():
    assert parse_task("owner/repo@v1:BtoA", zoo_tasks()) == Task("owner/repo@v1", "BtoA", "owner/repo@v1:BtoA")
    with pytest.raises(CycleGANError, match="unknown task 'cat → dog'"):
        parse_task("cat → dog", zoo_tasks())
    with pytest.raises(CycleGANError, match="unknown task"):
        parse_task("owner/repo:sideways", zoo_tasks())
