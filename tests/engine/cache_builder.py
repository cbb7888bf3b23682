"""`python -m tests.engine.cache_builder ROOT SIZE FIRST LAST DELAY_S OUT.npz`: one process asking
for the cache of images FIRST..LAST of ROOT, as the window or a CLI run would, decoding each image
DELAY_S slower than usual (so that two of them overlap for sure).

It says "ready" once imported and starts when a line arrives on its standard input, so that a test
can start two at the same moment; it saves the rows it got, their paths and how the request was
served to OUT.npz.
"""

import sys
import time

import numpy as np

from vit_studio.engine.data import cache as cache_module
from vit_studio.engine.data import cache_images, scan_folder


def main(root: str, size: str, first: str, last: str, delay_s: str, out: str) -> None:
    real_open = cache_module.open_image

    def slow_open(path, *args, **kwargs):
        time.sleep(float(delay_s))
        return real_open(path, *args, **kwargs)

    cache_module.open_image = slow_open
    items = list(scan_folder(root, val_share=0.0).train)[int(first) : int(last)]
    print("ready", flush=True)
    sys.stdin.readline()
    cached = cache_images(items, int(size), root=root, workers=1)
    np.savez(
        out,
        images=cached.images.numpy(),
        paths=np.array([str(p) for p in cached.paths]),
        decoded=cached.cache.decoded,
        reused=cached.cache.reused,
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
