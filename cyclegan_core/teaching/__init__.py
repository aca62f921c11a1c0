"""The Learn tab's computations, each testable without a UI: CycleGAN seen from inside.

    explain.py         the cycle seen: x, G(x), F(G(x)), per-pixel cycle-error maps, the identity view
    steganography.py   the information a cycle hides in G(x): high frequencies, noise/JPEG vs F(G(x))
    flicker.py         why CycleGAN videos flicker: a pan translated frame by frame vs with a shot's statistics
    patch_maps.py      a model's PatchGANs (from its training state, or trained against frozen G/F); patch maps
    synthetic.py       synthetic domains (shapes, textures, colours), generated on the fly
    live.py            a tiny CycleGAN trained live, one generator and one discriminator update at a time
    lessons.py         recorded small experiments (λ_cycle 10 vs 0, identity, geometry, little data)
    toy_models.py      toy models: tiny CycleGANs trained once on the synthetic tasks, kept in the store's .toy/
    doctor.py          "is it working?": plain-language checks on a run's losses and previews

Imports: `training` and below.
"""
