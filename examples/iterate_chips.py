"""Iterate one epoch of every split of a published benchmark over HTTP, as a training loop would.

Trains nothing: it streams each split's chips with ChipDataset (normalized with the stored train-split
statistics) and prints the shapes and the class balance.

    ml4earth serve outputs &                 # or any static host of the published folder
    python examples/iterate_chips.py http://127.0.0.1:8000 svalbard-calving-fronts
    python examples/iterate_chips.py http://127.0.0.1:8000 south-america-utc --torch
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ml4earth_stac.store.dataset import ChipDataset


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base_url", help="where the published folder is served, e.g. http://127.0.0.1:8000")
    parser.add_argument("benchmark", help="benchmark id, e.g. svalbard-calving-fronts")
    parser.add_argument("--sensor", default="sentinel-2")
    parser.add_argument("--torch", action="store_true", help="through a torch DataLoader with 2 workers")
    args = parser.parse_args()
    url = f"{args.base_url.rstrip('/')}/{args.benchmark}/chips.zarr"
    for split in ("train", "val", "test"):
        dataset = ChipDataset(url, split=split, sensor=args.sensor)
        start, shapes, pixels = time.perf_counter(), set(), np.zeros(256, dtype=np.int64)
        for sample in _epoch(dataset, args.torch):
            image, label = np.asarray(sample["image"]), np.asarray(sample["label"])
            shapes.add((image.shape, label.shape))
            pixels += np.bincount(label.ravel().astype(np.int64), minlength=256)
        names = {c["value"]: c["name"] for c in dataset.classes}
        balance = {
            names.get(v, "no label" if v == 255 else v): round(pixels[v] / pixels.sum(), 3)
            for v in np.flatnonzero(pixels)
        }
        print(
            f"{split:5s} {len(dataset):4d} chips in {time.perf_counter() - start:5.1f} s; "
            f"image/label shapes {sorted(shapes)}; class balance {balance}"
        )


def _epoch(dataset: ChipDataset, use_torch: bool):
    if not use_torch:
        yield from dataset
        return
    from torch.utils.data import DataLoader

    yield from DataLoader(dataset.as_torch(), batch_size=None, num_workers=2)


if __name__ == "__main__":
    main()
