"""Tiny generated Dogs vs. Cats folders for the task-4 tests (both layouts, bad files).

Cats are reddish and dogs bluish, so a small net learns them in an epoch or two.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

# Files training and `submit` must skip, and files they must read (converted to RGB).
UNREADABLE = ("truncated", "empty", "text")
CONVERTIBLE = ("png_as_jpg", "cmyk", "gray", "one_pixel")


def photo(label: int, seed: int, size=(24, 20)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 90, (size[1], size[0], 3))
    image[..., 2 * label] += 150  # red for cats (0), blue for dogs (1)
    return image.astype(np.uint8)


def jpeg_bytes(array, mode=None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def write_bad_files(folder: Path, stem: str = "") -> dict[str, Path]:
    """The fault suite's odd files, named `<stem><kind>.jpg` (stem e.g. 'cat.' or '90')."""
    folder.mkdir(parents=True, exist_ok=True)
    good = jpeg_bytes(photo(0, 99))
    png = io.BytesIO()
    Image.fromarray(photo(1, 98)).save(png, "PNG")
    contents = {
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "text": b"this is not an image\n",
        "png_as_jpg": png.getvalue(),
        "cmyk": jpeg_bytes(photo(0, 97), "CMYK"),
        "gray": jpeg_bytes(photo(1, 96), "L"),
        "one_pixel": jpeg_bytes(np.full((1, 1, 3), 200, np.uint8)),
    }
    paths = {}
    for n, (kind, data) in enumerate(contents.items()):
        name = f"{stem}{n}.jpg" if stem.isdigit() or stem == "" else f"{stem}{kind}.jpg"
        paths[kind] = folder / name
        paths[kind].write_bytes(data)
    return paths


def make_kaggle(root: Path, per_class: int = 10, test: int = 6, size=(24, 20)) -> Path:
    """root/train/{cat,dog}.N.jpg and root/test1/<id>.jpg; returns root."""
    train = root / "train"
    train.mkdir(parents=True)
    for label, name in enumerate(("cat", "dog")):
        for i in range(per_class):
            (train / f"{name}.{i}.jpg").write_bytes(jpeg_bytes(photo(label, 1000 * label + i,
                                                                     size)))
    if test:
        (root / "test1").mkdir()
        for i in range(1, test + 1):
            (root / "test1" / f"{i}.jpg").write_bytes(jpeg_bytes(photo(i % 2, 5000 + i, size)))
    return root


def make_class_folders(root: Path, names=("Cat", "Dog"), per_class: int = 10) -> Path:
    """root/Cat/N.jpg and root/Dog/N.jpg (the PetImages layout); returns root."""
    for label, name in enumerate(names):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            (folder / f"{i}.jpg").write_bytes(jpeg_bytes(photo(label, 2000 * label + i)))
    return root
