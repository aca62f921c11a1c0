"""The model zoo: every pretrained CycleGAN generator the reference implementation released (18 files,
its `scripts/download_cyclegan_model.sh`), grouped into the models this app offers by name, each with
a model card. Where their weights come from is `sources.load_zoo`.

Files released in pairs (horse2zebra + zebra2horse, …) are one two-way model (the paper's G and F).
Files released alone — the painting styles, Monet → photo and the flower photo enhancement — are
one-way models: they have no F, so no reverse direction and no cycle is offered for them.
"""

from __future__ import annotations

from dataclasses import dataclass

OFFICIAL_LICENSE = (
    "Weights released with junyanz/pytorch-CycleGAN-and-pix2pix under its BSD licence "
    "(Copyright (c) 2017, Jun-Yan Zhu and Taesung Park). The training photos keep their own terms "
    "(see the model card's training data); check them before commercial use.")
GENERATOR_MB = 45  # one official 9-block generator .pth: 11.4 M float32 parameters


@dataclass(frozen=True)
class ZooEntry:
    """One official model: its domains, the upstream file of each generator (`b_to_a_file` None for a
    one-way model), its card (what it does, its training data, known limits), its group in the
    Translate tab, and words that suggest it as a starting point for fine-tuning."""

    name: str
    domain_a: str
    domain_b: str
    a_to_b_file: str  # the paper's G
    b_to_a_file: str | None  # the paper's F; None: released without one (one-way)
    group: str
    what: str
    data: str
    limits: str
    keywords: tuple[str, ...] = ()
    image_size: int = 256  # the training crops (the paper's Cityscapes experiments used 128²)

    @property
    def one_way(self) -> bool:
        return self.b_to_a_file is None

    @property
    def files(self) -> tuple[str, ...]:
        return (self.a_to_b_file,) if self.one_way else (self.a_to_b_file, self.b_to_a_file)

    @property
    def download_mb(self) -> int:
        """About how much a first use downloads (both generators of a two-way model)."""
        return GENERATOR_MB * len(self.files)

    def card(self) -> str:
        """The model card as Markdown (the Translate tab shows it; `publish` writes it to the Hub)."""
        arrows = f"{self.domain_a} → {self.domain_b}" + ("" if self.one_way else f" and {self.domain_b} → {self.domain_a}")
        kind = "one-way (released without a reverse generator: no cycle)" if self.one_way else "two-way (G and F)"
        return (f"**{self.name}** · {arrows} · {kind}\n\n{self.what}\n\n"
                f"**Training data.** {self.data}\n\n**Known limits.** {self.limits}\n\n"
                f"**Licence.** {OFFICIAL_LICENSE}\n\n"
                f"**Files.** {', '.join(f + '.pth' for f in self.files)} (≈{GENERATOR_MB} MB each) from the "
                f"reference project, converted strictly into this app's model format.")


PAINTINGS_DATA = ("Paintings from WikiArt (Monet 1,074, Cézanne 584, Van Gogh 401, ukiyo-e 1,433) and landscape photos "
                  "from Flickr (tags landscape, landscapephotography), 256² crops; the paper's 'collection style "
                  "transfer' experiments.")
STYLE_LIMITS = ("Learns an artist's whole collection rather than one painting; works best on landscapes like those "
                "it saw, and people and text come out smeared. Larger photos get finer brush strokes than the "
                "256² training crops.")

ZOO = {
    "summer2winter": ZooEntry(
        "summer2winter", "summer", "winter", "summer2winter_yosemite", "winter2summer_yosemite", "Seasons",
        "Turns a summer landscape into winter (snow, bare trees, cold light) and back.",
        "Yosemite photos from Flickr: 1,273 summer and 854 winter, trained at 256².",
        "Made for mountain landscapes; city scenes, people and close-ups change little or oddly. It changes "
        "colours and textures, not shapes: no snow appears on objects that have none in summer.",
        keywords=("summer", "winter", "season", "snow", "landscape", "day", "night", "autumn", "spring", "photo",
                  "mountain")),
    "horse2zebra": ZooEntry(
        "horse2zebra", "horse", "zebra", "horse2zebra", "zebra2horse", "Animals",
        "Paints zebra stripes onto horses, or removes them from zebras.",
        "ImageNet classes wild horse (939 images) and zebra (1,177), trained at 256²; the paper's Figure 1 model.",
        "Stripes go on anything horse-coloured, people included (the paper's own failure example: Putin on a "
        "horse); it never learned shapes, so ponies stay ponies and the background may get a yellow tint.",
        keywords=("horse", "zebra", "animal", "cat", "dog", "cow", "tiger", "pony", "donkey")),
    "apple2orange": ZooEntry(
        "apple2orange", "apple", "orange", "apple2orange", "orange2apple", "Fruit",
        "Recolours apples as oranges (colour and peel texture) and oranges as apples.",
        "ImageNet classes apple (996 images) and navel orange (1,020), trained at 256².",
        "Changes colour and texture, not shape: the result keeps the apple's outline and stem. Red things that "
        "are not apples turn orange too.",
        keywords=("apple", "orange", "fruit", "food", "vegetable", "banana", "lemon")),
    "monet2photo": ZooEntry(
        "monet2photo", "Monet painting", "photo", "monet2photo", None, "Paintings",
        "Turns a Monet painting into a photograph-like picture of the same scene.",
        "1,074 Monet paintings from WikiArt and 6,853 landscape photos from Flickr, trained at 256².",
        "Works on impressionist landscapes; other painters and portraits give blurry or over-saturated results. "
        "One-way: released without the photo → painting generator of the same run (see style_monet).",
        keywords=("monet", "painting", "art", "impressionism")),
    "style_monet": ZooEntry(
        "style_monet", "photo", "Monet painting", "style_monet", None, "Paintings",
        "Renders a photo in the style of Claude Monet's paintings.", PAINTINGS_DATA, STYLE_LIMITS,
        keywords=("monet", "painting", "style", "art")),
    "style_cezanne": ZooEntry(
        "style_cezanne", "photo", "Cézanne painting", "style_cezanne", None, "Paintings",
        "Renders a photo in the style of Paul Cézanne's paintings.", PAINTINGS_DATA, STYLE_LIMITS,
        keywords=("cezanne", "cézanne", "painting", "style")),
    "style_ukiyoe": ZooEntry(
        "style_ukiyoe", "photo", "ukiyo-e print", "style_ukiyoe", None, "Paintings",
        "Renders a photo in the style of Japanese ukiyo-e woodblock prints.", PAINTINGS_DATA, STYLE_LIMITS,
        keywords=("ukiyoe", "ukiyo-e", "print", "japanese", "woodblock")),
    "style_vangogh": ZooEntry(
        "style_vangogh", "photo", "Van Gogh painting", "style_vangogh", None, "Paintings",
        "Renders a photo in the style of Vincent van Gogh's paintings.", PAINTINGS_DATA, STYLE_LIMITS,
        keywords=("vangogh", "van gogh", "gogh", "painting", "style")),
    "sat2map": ZooEntry(
        "sat2map", "satellite photo", "map", "sat2map", "map2sat", "Maps",
        "Draws a street map from an aerial photo, or invents an aerial photo for a map.",
        "1,096 aerial photos and Google Maps tiles of New York City (the pix2pix maps set, used unpaired), "
        "600×600 scaled to 256².",
        "Learned one city at one zoom level; elsewhere roads and buildings are guessed. Map → photo invents "
        "rooftops and trees that are not there. For paired data pix2pix does better (the paper's Table 1).",
        keywords=("map", "satellite", "aerial", "sat")),
    "cityscapes": ZooEntry(
        "cityscapes", "street photo", "street labels", "cityscapes_photo2label", "cityscapes_label2photo",
        "Cities & buildings",
        "Turns a street photo into a semantic label map (road, car, building, sky, … in Cityscapes colours) "
        "and a label map into a street photo.",
        "2,975 training images of German city streets from the Cityscapes dataset, used unpaired, at 128×128 "
        "(the paper's FCN-score experiments). Cityscapes' own licence is non-commercial.",
        "Low-resolution (128²) by design: labels are coarse and rare classes are mislabelled; photos from "
        "labels look like blurry German streets. The paper reports per-pixel accuracy 0.58 (photo → labels).",
        keywords=("street", "city", "label", "segmentation", "car", "road", "urban"), image_size=128),
    "facades": ZooEntry(
        "facades", "facade photo", "facade labels", "facades_photo2label", "facades_label2photo",
        "Cities & buildings",
        "Turns a building front into an architectural label map (windows, doors, balconies, …) and a label map "
        "into a building front.",
        "The CMP Facade Database (400 rectified building fronts, Prague), used unpaired, at 256².",
        "Expects a straight-on, rectified facade filling the picture; perspective views and other scenes give "
        "noise. Labels → photo invents plausible but blurry brickwork.",
        keywords=("facade", "building", "architecture", "house", "window")),
    "iphone2dslr_flower": ZooEntry(
        "iphone2dslr_flower", "phone photo", "DSLR photo", "iphone2dslr_flower", None, "Photo enhancement",
        "Gives a phone photo of a flower a DSLR's shallow depth of field: the background is blurred, the flower "
        "stays sharp.",
        "Flower photos from Flickr: 1,813 taken with iPhones and 3,316 with DSLRs (tag flower), trained at 256².",
        "Made for close-ups of flowers; on other scenes the blur falls in the wrong places. One-way: released "
        "without the DSLR → phone generator.",
        keywords=("flower", "iphone", "dslr", "phone", "bokeh", "camera")),
}

GROUPS = ("Seasons", "Animals", "Fruit", "Paintings", "Maps", "Cities & buildings", "Photo enhancement")


def nearest_zoo_model(domain_a: str, domain_b: str) -> str | None:
    """The two-way zoo model whose keywords occur in the two domain names (checked in the order
    summer2winter, horse2zebra, then the others), or None: what to fine-tune from for, say,
    "cat" ↔ "dog". One-way models are never suggested: fine-tuning needs both generators."""
    words = f"{domain_a} {domain_b}".lower()
    for name, entry in ZOO.items():
        if not entry.one_way and any(k in words for k in entry.keywords):
            return name
    return None
