"""A hand-built 1-layer torchvision ViT whose answer depends on one patch and nothing else.

16×16 images, 4×4 patches (a 4×4 grid), hidden width 8, one head, two classes. The class
token's query is a large constant and only patch `LOOKED_AT` has a large key (its position
embedding), so the class token attends to that patch alone (weight 1 - 1e-13 or so). The
value of a token is the normalised first feature of its patch (10 × the patch's mean red) minus
0.5; the MLP is zero and the head reads the sign of that value: class 0 when patch `LOOKED_AT`
is bright red, class 1 when it is removed (set to 0, the mean). No other patch matters.
"""

from __future__ import annotations

import torch

from vit_studio.engine.model import (
    ModelMeta,
    Preprocessing,
    StudioModel,
    ViTArch,
    build_vit,
    make_model,
)

ONE_PATCH_ARCH = ViTArch(
    image_size=16, patch_size=4, num_layers=1, num_heads=1, hidden_dim=8, mlp_dim=4, num_classes=2
)
LOOKED_AT = 6  # row 1, column 2 of the 4×4 grid


def one_patch_vit(looked_at: int = LOOKED_AT) -> StudioModel:
    module = build_vit(ONE_PATCH_ARCH).eval()
    dim, patch = ONE_PATCH_ARCH.hidden_dim, ONE_PATCH_ARCH.patch_size
    block = module.encoder.layers[0]
    mha = block.self_attention
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
        for norm in (block.ln_1, block.ln_2, module.encoder.ln):
            norm.weight.fill_(1.0)
        module.conv_proj.weight[0, 0] = 10.0 / (patch * patch)  # feature 0: 10 × mean red
        module.class_token[0, 0, 3], module.class_token[0, 0, 4] = 1.0, -1.0
        for token in range(1, ONE_PATCH_ARCH.num_tokens):
            sign = 1.0 if token - 1 == looked_at else -1.0
            module.encoder.pos_embedding[0, token, 1] = 20.0 * sign
            module.encoder.pos_embedding[0, token, 2] = -20.0 * sign
        mha.in_proj_bias[0] = 200.0  # query: constant
        mha.in_proj_weight[dim + 0, 1] = 1.0  # key: the position feature
        mha.in_proj_weight[2 * dim + 0, 0] = 1.0  # value: the patch feature ...
        mha.in_proj_bias[2 * dim + 0] = -0.5  # ... minus a threshold
        mha.out_proj.weight.copy_(torch.eye(dim))
        module.heads.head.weight[0, 0], module.heads.head.weight[1, 0] = 10.0, -10.0
    meta = ModelMeta(
        name="one patch",
        class_names=("bright", "removed"),
        preprocessing=Preprocessing(resize_size=16, crop_size=16),
    )
    return make_model(module, ONE_PATCH_ARCH, meta)


def bright_patch_image(looked_at: int = LOOKED_AT, seed: int = 0) -> torch.Tensor:
    """A normalised image `[3, 16, 16]` of noise with patch `looked_at` bright in red."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(3, 16, 16, generator=generator)
    row, col = divmod(looked_at, 4)
    image[0, row * 4 : row * 4 + 4, col * 4 : col * 4 + 4] = 2.0
    return image
