"""What the explorer shows, without Qt (the napari `components/` of this app).

    explorer  `ExplorerState`: model, image, analysis, layer, head, patch, class, overlay,
              rollout settings, pending gradients, device, with an event for each change
    overlay   which map is painted over the image, with its title and colour-bar scale
    rollout   the rollout settings and the map they select
    results   what the workers hand back: a loaded model's summary, an analysed image

Widgets subscribe to the state's events and write to it, never to each other; a script or a
test can drive the state without a window. Nothing here imports Qt (a test enforces it).
"""
