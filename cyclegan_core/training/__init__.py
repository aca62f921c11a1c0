"""Training: the paper's iteration, the loop around it, and the runs it leaves on disk.

    config.py          TrainConfig, everything that defines a training run
    trainer.py         CycleGANTrainer: one training iteration (generator and discriminator steps), its state
    state.py           a trainer's full state in one file, for exact resume
    loop.py            the training loop, a generator of events (`cyclegan_core.train`)
    data.py            unpaired training data: folders, zips (read safely), file lists
    batches.py         the loop's batches, drawn one step ahead by a worker on a GPU
    distributed.py     the same loop on many processes/GPUs/nodes: torchrun, DDP, rank 0 writes
    runs.py            run folders: record, log, previews, save/restore, resume checks
    store.py           the local model store (weights/): list models and runs, new run, delete

Imports: `sources` (the loop loads `config.init`; the trainer takes a model object) and below.
"""
