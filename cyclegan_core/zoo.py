"""The model zoo: the official CycleGAN models this app offers by name, and which of them suits a
pair of domain names best. Where their weights come from is `sources.load_zoo`."""

from __future__ import annotations

from dataclasses import dataclass

OFFICIAL_LICENSE = (
    "Weights released with junyanz/pytorch-CycleGAN-and-pix2pix under its BSD licence "
    "(Copyright (c) 2017, Jun-Yan Zhu and Taesung Park). The training photos come from "
    "ImageNet (horse, zebra) and Flickr (Yosemite); check their terms before commercial use.")


@dataclass(frozen=True)
class ZooEntry:
    """One official model: its two domains, the upstream file of each generator, and words that
    suggest it as a starting point for fine-tuning."""

    name: str
    domain_a: str
    domain_b: str
    a_to_b_file: str  # the paper's G
    b_to_a_file: str  # the paper's F
    keywords: tuple[str, ...] = ()


ZOO = {
    "horse2zebra": ZooEntry("horse2zebra", "horse", "zebra", "horse2zebra", "zebra2horse",
                            keywords=("horse", "zebra", "animal", "cat", "dog", "cow", "tiger", "pony", "donkey")),
    "summer2winter": ZooEntry("summer2winter", "summer", "winter", "summer2winter_yosemite",
                              "winter2summer_yosemite",
                              keywords=("summer", "winter", "season", "snow", "landscape", "day", "night", "autumn",
                                        "spring", "photo", "mountain")),
}


def nearest_zoo_model(domain_a: str, domain_b: str) -> str | None:
    """The zoo model whose keywords occur in the two domain names (checked in order
    summer2winter, horse2zebra), or None: what to fine-tune from for, say, "cat" ↔ "dog"."""
    words = f"{domain_a} {domain_b}".lower()
    for name in ("summer2winter", "horse2zebra"):
        if any(k in words for k in ZOO[name].keywords):
            return name
    return None
