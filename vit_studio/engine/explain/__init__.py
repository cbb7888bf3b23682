"""Attribution methods for a class-token ViT and the perturbation tests that score them.

`methods` computes every map from one captured forward pass (plus one backward pass, and an
LRP pass for transformer attribution); `faithfulness` perturbs the input in the order a map
ranks the patches and measures how the prediction holds up; `evaluate` runs both over images.
"""
