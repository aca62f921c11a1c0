"""CycleGAN's objective (Zhu et al. 2017, Sec. 3), as pure functions of tensors.

Full objective, Eq. 3: L(G, F, D_X, D_Y) = L_GAN(G, D_Y, X, Y) + L_GAN(F, D_X, Y, X) + λ L_cyc(G, F),
plus the identity term of Sec. 5.2 (Taigman et al.) used for photo ↔ painting and seasons.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GAN_MODES = ("lsgan", "vanilla")

# The names of a training step's loss terms and previews: the trainer reports them, runs log them,
# the app and the Learn tab draw them. Ours against the reference implementation's
# (`models/cycle_gan_model.py`), whose `netG_A` is our G_AB but whose `netD_A` judges domain *B*:
#
#     ours      what it is                                    reference
#     G_AB      L_GAN(G, D_Y): D_B(G(a)) → real (Eq. 1)       G_A
#     G_BA      L_GAN(F, D_X): D_A(F(b)) → real (Eq. 1)       G_B
#     cycle_A   λ_A ‖F(G(a)) − a‖₁ (Eq. 2, forward)            cycle_A
#     cycle_B   λ_B ‖G(F(b)) − b‖₁ (Eq. 2, backward)           cycle_B
#     idt_A     λ_idt λ_A ‖F(a) − a‖₁ (Sec. 5.2)               idt_B
#     idt_B     λ_idt λ_B ‖G(b) − b‖₁ (Sec. 5.2)               idt_A
#     D_A       D_X: real a vs pooled F(b) (Eq. 1, halved)     D_B
#     D_B       D_Y: real b vs pooled G(a) (Eq. 1, halved)     D_A
LOSS_NAMES = ("G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B")
REFERENCE_LOSS_NAMES = {"G_AB": "G_A", "G_BA": "G_B", "cycle_A": "cycle_A", "cycle_B": "cycle_B",
                        "idt_A": "idt_B", "idt_B": "idt_A", "D_A": "D_B", "D_B": "D_A"}
# A preview's six pictures: both cycles of fixed inputs, real → translated → back.
PREVIEW_NAMES = ("real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B")


def gan_loss(prediction: torch.Tensor, target_is_real: bool, mode: str = "lsgan") -> torch.Tensor:
    """Adversarial loss, Eq. 1. `lsgan` (the paper's choice, Sec. 4): least squares against 1 for
    real and 0 for fake (Mao et al.); `vanilla`: the original cross-entropy GAN loss on logits."""
    prediction = prediction.float()
    target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
    if mode == "lsgan":
        return F.mse_loss(prediction, target)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(prediction, target)
    raise ValueError(f"unknown GAN mode {mode!r}; expected one of {', '.join(GAN_MODES)}")


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor, weight: float = 10.0) -> torch.Tensor:
    """Cycle consistency, Eq. 2: λ · ‖F(G(x)) − x‖₁ (one direction; λ_A = λ_B = 10 in the paper)."""
    return weight * F.l1_loss(reconstructed.float(), original.float())


def identity_loss(same: torch.Tensor, original: torch.Tensor, weight: float) -> torch.Tensor:
    """Identity mapping, Sec. 5.2: ‖G(y) − y‖₁ scaled by λ_idt · λ (reference: λ_idt = 0.5)."""
    return weight * F.l1_loss(same.float(), original.float())


def discriminator_loss(real: torch.Tensor, fake: torch.Tensor, mode: str = "lsgan") -> torch.Tensor:
    """D's side of Eq. 1, halved as in the paper (Sec. 4) to slow D relative to G."""
    return 0.5 * (gan_loss(real, True, mode) + gan_loss(fake, False, mode))
