"""demo/tasks.py: the Translate tab's task list and how a task is parsed."""

import pytest

from cyclegan_core import CycleGANError, save_model
from cyclegan_core import ZOO
from cyclegan_core.sources.zoo import GROUPS
from demo.tasks import BUILTIN_GROUP, Task, all_tasks, local_tasks, packaged_tasks, parse_task, zoo_tasks


def test_zoo_tasks_cover_every_released_generator_one_task_each():
    tasks = zoo_tasks()
    assert len(tasks) == 18 == sum(len(e.files) for e in ZOO.values())  # one task per official file
    assert [t.label for t in tasks[:4]] == ["summer → winter", "winter → summer", "horse → zebra", "zebra → horse"]
    assert parse_task("zebra → horse", tasks) == Task("horse2zebra", "BtoA", "zebra → horse", "Animals")
    assert [t.group for t in tasks] == sorted((t.group for t in tasks), key=GROUPS.index)  # grouped
    one_way = {t.source for t in tasks if t.one_way}
    assert one_way == {"monet2photo", "style_monet", "style_cezanne", "style_ukiyoe", "style_vangogh",
                       "iphone2dslr_flower"}
    assert not [t for t in tasks if t.source in one_way and t.direction == "BtoA"]  # no made-up reverse
    assert "photo → Van Gogh painting" in [t.label for t in tasks]


def test_the_builtin_offline_task_comes_first():
    first = all_tasks()[0]
    assert first == packaged_tasks()[0] == Task("vintage", "AtoB", "modern photo → vintage photo", BUILTIN_GROUP, True)


def test_a_one_way_local_model_lists_one_direction(tiny_model, offline_sandbox):
    from cyclegan_core import CycleGAN
    one_way = CycleGAN(tiny_model.config.replace(one_way=True))
    save_model(one_way, offline_sandbox / "weights" / "mine")
    assert [(t.label, t.one_way) for t in local_tasks()] == [("mine: apple → orange", True)]


def test_local_models_are_listed_with_both_directions(tiny_model, offline_sandbox):
    weights = offline_sandbox / "weights"
    save_model(tiny_model, weights / "fruit")
    (weights / "not-a-model").mkdir()
    save_model(tiny_model, weights / "horse2zebra")  # a cached zoo model is not listed twice
    tasks = local_tasks()
    assert [(t.label, t.direction) for t in tasks] == [("fruit: apple → orange", "AtoB"),
                                                      ("fruit: orange → apple", "BtoA")]
    assert tasks[0].source == "fruit"  # by name: the app never hands out server paths
    assert len(all_tasks()) == 1 + 18 + 2
    extra = Task("someone/x", "AtoB", "fruit: apple → orange")  # same label as a local task: listed once
    assert len(all_tasks([extra])) == 1 + 18 + 2


def test_parse_task_explicit_form_and_errors():
    assert parse_task("owner/repo@v1:BtoA", zoo_tasks()) == Task("owner/repo@v1", "BtoA", "owner/repo@v1:BtoA")
    with pytest.raises(CycleGANError, match="unknown task 'cat → dog'"):
        parse_task("cat → dog", zoo_tasks())
    with pytest.raises(CycleGANError, match="unknown task"):
        parse_task("owner/repo:sideways", zoo_tasks())
