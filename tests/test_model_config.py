"""model_config.py: config.json is the dataclass's fields (domains grouped), validated on read."""

import dataclasses
import json

import pytest

from cyclegan_core import ModelConfig, ModelFormatError
from cyclegan_core.model.config import DOMAIN_FIELDS


def test_json_keys_are_the_dataclass_fields_with_domains_grouped():
    config = ModelConfig(ngf=8, n_blocks=2, domain_a="apple", domain_b="orange", image_size=32,
                         provenance="made here", license="MIT")
    data = json.loads(config.to_json())
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    assert set(data) == (fields - set(DOMAIN_FIELDS) - {"one_way"}) | {"domains"}  # two-way: no one_way key
    assert data["domains"] == {"A": "apple", "B": "orange"}
    assert (data["format_version"], data["ngf"], data["license"]) == (1, 8, "MIT")
    assert ModelConfig.from_json(config.to_json()) == config


def test_a_one_way_config_says_so_and_a_two_way_one_reads_as_before():
    one_way = ModelConfig(domain_a="photo", domain_b="Monet painting", one_way=True)
    data = json.loads(one_way.to_json())
    assert data["one_way"] is True and one_way.directions == ("AtoB",)
    assert ModelConfig.from_json(one_way.to_json()) == one_way
    assert "one_way" not in json.loads(ModelConfig().to_json()) and ModelConfig().directions == ("AtoB", "BtoA")
    with pytest.raises(ModelFormatError, match="'one_way' must be bool"):
        ModelConfig.from_json('{"format_version": 1, "one_way": 1}')


def test_missing_keys_take_the_defaults():
    config = ModelConfig.from_json('{"format_version": 1, "ngf": 16}')
    assert config == ModelConfig(ngf=16)


@pytest.mark.parametrize("text, message", [
    ('{"format_version": 2}', "unknown format_version 2"),
    ("{}", "unknown format_version None"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"format_version": 1, "ngf": true}', "'ngf' must be int"),
    ('{"format_version": 1, "license": 3}', "'license' must be str"),
    ('{"format_version": 1, "domain_a": "x"}', r"unknown keys \['domain_a'\]"),
    ('{"format_version": 1, "domains": {"A": "x"}}', "'domains' must be an object with keys 'A' and 'B'"),
    ('{"format_version": 1, "n_blocks": -1}', "must be positive"),
])
def test_bad_json_names_the_problem(text, message):
    with pytest.raises(ModelFormatError, match=message):
        ModelConfig.from_json(text, where="x/config.json")


def test_replace_validates():
    with pytest.raises(ModelFormatError, match="unknown norm 'batch'"):
        ModelConfig().replace(norm="batch")
    assert ModelConfig().replace(domain_a="cat").domain_a == "cat"
