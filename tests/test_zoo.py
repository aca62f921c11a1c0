"""zoo.py: the official models, and which one to fine-tune from for a pair of domain names."""

from cyclegan_core.sources.zoo import ZOO, nearest_zoo_model


def test_zoo_lists_both_official_pairs_with_their_upstream_files():
    assert ZOO["horse2zebra"].a_to_b_file == "horse2zebra" and ZOO["horse2zebra"].b_to_a_file == "zebra2horse"
    assert (ZOO["summer2winter"].domain_a, ZOO["summer2winter"].domain_b) == ("summer", "winter")


def test_nearest_zoo_model_by_domain_names():
    assert nearest_zoo_model("Cat", "dog") == "horse2zebra"
    assert nearest_zoo_model("day", "night") == "summer2winter"
    assert nearest_zoo_model("apple", "orange") == "apple2orange"
    assert nearest_zoo_model("photo", "Monet") == "summer2winter"  # one-way style_monet cannot be fine-tuned both ways
    assert nearest_zoo_model("cat", "dog") == "horse2zebra" and nearest_zoo_model("x", "y") is None
