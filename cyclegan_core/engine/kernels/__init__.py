"""The CPU kernels under the engine: which convolution runs, and the channels-last InstanceNorm.

    choice.py          which kernel runs fp32 3×3 convolutions: Winograd or oneDNN, by the CPU's capabilities
    winograd.py        3×3 convolutions as Winograd F(4×4, 3×3) transforms and batched matrix products
    instance_norm.py   InstanceNorm of a channels-last fp32 activation, in place; Chan's merge of moments

Imports: torch only.
"""
