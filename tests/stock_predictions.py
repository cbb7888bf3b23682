"""Predictions computed with stock torchvision alone, the independent check of the batched ones."""

import torch
import torchvision
from PIL import Image
from torchvision import transforms


def stock_top_k(model, path, k):
    """(class indices, probabilities) of the top-k of one image through torchvision's transforms
    and a stock `VisionTransformer` holding `model`'s weights."""
    pre = model.meta.preprocessing
    preprocess = transforms.Compose([
        transforms.Resize(pre.resize_size, interpolation=transforms.InterpolationMode.BILINEAR),
        transforms.CenterCrop(pre.crop_size),
        transforms.ToTensor(),
        transforms.Normalize(pre.mean, pre.std),
    ])  # fmt: skip
    vit = torchvision.models.VisionTransformer(**model.arch.torchvision_kwargs())
    vit.load_state_dict(model.module.state_dict())
    with torch.inference_mode():
        probs = vit.eval()(preprocess(Image.open(path).convert("RGB"))[None]).softmax(-1)[0]
    values, indices = probs.topk(k)
    return indices.tolist(), values.tolist()
