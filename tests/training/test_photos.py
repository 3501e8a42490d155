"""training.photos: decoded photos kept on disk for the next process, and rebuilt when the
copy cannot be read."""

import io

import numpy as np
import pytest

from tests.data.test_dogs import pngs
from training.photos import cached_arrays


def _with_images(cache, images) -> bytes:
    with np.load(cache) as cached:
        buffer = io.BytesIO()
        np.savez(buffer, images=images, labels=cached["labels"], key=cached["key"])
    return buffer.getvalue()


def test_the_cache_holds_these_files_only(tmp_path):
    arrays, files, labels = pngs(tmp_path)
    cache = tmp_path / "cache" / "photos.npz"
    images, got = cached_arrays(files, labels, 16, cache)
    assert cache.exists()
    np.testing.assert_array_equal(images, arrays)
    np.testing.assert_array_equal(got, labels)
    cache.write_bytes(_with_images(cache, np.zeros_like(arrays)))  # a marked cache
    np.testing.assert_array_equal(cached_arrays(files, labels, 16, cache)[0], 0)  # read
    again, _ = cached_arrays(files[:3], labels[:3], 16, cache)  # other files: decoded anew
    np.testing.assert_array_equal(again, arrays[:3])


@pytest.mark.parametrize("corrupt", [
    lambda good: good[: len(good) // 2],  # truncated
    lambda good: b"",  # empty
    lambda good: bytes(range(256)) * 8,  # random bytes
    lambda good: b'{"images": 1}',  # another kind of file
])
def test_an_unreadable_cache_is_decoded_again_with_one_warning(tmp_path, capsys, corrupt):
    arrays, files, labels = pngs(tmp_path)
    cache = tmp_path / "photos.npz"
    cached_arrays(files, labels, 16, cache)
    cache.write_bytes(corrupt(cache.read_bytes()))
    images, _ = cached_arrays(files, labels, 16, cache)
    np.testing.assert_array_equal(images, arrays)
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"warning: the decoded-photo cache {cache} is unreadable")
    np.testing.assert_array_equal(cached_arrays(files, labels, 16, cache)[0], arrays)
