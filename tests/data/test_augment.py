"""Augmentation: the fast engine is ImageDataGenerator's transform, and both engines draw
the same ranges (shift, flip, zoom) and fill the same way."""

import numpy as np
import pytest

from data.augment import (MEDIUM_AUGMENT, REPORT_AUGMENT, STRONG_AUGMENT, AugmentConfig,
                          affine_transforms, augment_batch_fn, fast_augment,
                          legacy_augmenter)

SIDE = 64
N = 300  # images per range test


def fast_engine(config):
    import tensorflow as tf

    def run(images, seed=0):
        return np.asarray(fast_augment(tf.constant(images), tf.constant([seed, 1]), config))

    return run


def legacy_engine(config):
    np.random.seed(0)  # IDG draws from NumPy's global state
    return lambda images, seed=0: legacy_augmenter(config)(images)


ENGINES = {"fast": fast_engine, "legacy": legacy_engine}


@pytest.mark.parametrize("fill_mode", ["nearest", "reflect", "constant"])
@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_fast_transform_equals_image_data_generator(fill_mode, flip):
    import keras
    import tensorflow as tf

    config = AugmentConfig(fill_mode=fill_mode, cval=0.25)
    generator = config.to_generator()
    images = np.random.default_rng(1).random((2, 20, 30, 3)).astype(np.float32)
    params = {"theta": 17.0, "tx": 3.0, "ty": -4.5, "shear": 12.0, "zx": 1.3, "zy": 0.7,
              "flip": flip}
    expected = np.stack([generator.apply_transform(image, {**params,
                                                           "flip_horizontal": bool(flip)})
                         for image in images])
    transforms = affine_transforms({k: tf.constant([v, v], tf.float32)
                                    for k, v in params.items()}, 20, 30)
    got = keras.ops.image.affine_transform(images, transforms, fill_mode=fill_mode,
                                           fill_value=0.25)
    same = np.abs(np.asarray(got) - expected).max(axis=-1) < 1e-4
    if fill_mode == "constant":
        # Only the one-pixel seam between image and fill differs (SciPy blends it with cval
        # its own way); the image and the filled area are the same.
        assert same.mean() > 0.95
    else:
        assert same.all()


def marker_images(n, row, col):
    images = np.zeros((n, SIDE, SIDE, 1), np.float32)
    images[:, row, col] = 1.0
    return images


def centroids(images):
    grid_r, grid_c = np.mgrid[0:SIDE, 0:SIDE]
    mass = images[..., 0].sum(axis=(1, 2))
    return ((images[..., 0] * grid_r).sum(axis=(1, 2)) / mass,
            (images[..., 0] * grid_c).sum(axis=(1, 2)) / mass)


@pytest.mark.parametrize("engine", ENGINES)
def test_shift_of_0_2_never_moves_a_marker_more_than_20_percent(engine):
    config = AugmentConfig(width_shift_range=0.2, height_shift_range=0.2, fill_mode="constant")
    out = ENGINES[engine](config)(marker_images(N, 32, 32))
    rows, cols = centroids(out)
    moved_r, moved_c = np.abs(rows - 32), np.abs(cols - 32)
    limit = 0.2 * SIDE
    assert moved_r.max() <= limit + 1e-3 and moved_c.max() <= limit + 1e-3
    # ... and uses the range: some markers move more than 15% in each direction.
    assert moved_r.max() > 0.15 * SIDE and moved_c.max() > 0.15 * SIDE
    assert abs(np.mean(rows - 32)) < 1.5 and abs(np.mean(cols - 32)) < 1.5  # unbiased


@pytest.mark.parametrize("engine", ENGINES)
def test_flips_happen_half_the_time(engine):
    config = AugmentConfig(horizontal_flip=True)
    out = ENGINES[engine](config)(marker_images(N, 10, 5))
    rows, cols = centroids(out)
    flipped = np.isclose(cols, SIDE - 1 - 5)
    assert np.all(flipped | np.isclose(cols, 5)) and np.allclose(rows, 10)
    assert 0.4 < flipped.mean() < 0.6


def test_flip_alone_gives_each_image_or_its_exact_mirror():
    images = np.random.default_rng(0).random((64, 8, 8, 3)).astype(np.float32)
    out = fast_engine(AugmentConfig(rescale=1 / 255, horizontal_flip=True))(images, seed=5)
    mirrored = np.array([np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, images)])
    assert np.all(mirrored | kept) and 0.25 < mirrored.mean() < 0.75


def zoom_factors(out):
    """Scale factors read off gradient images: x from the column ramp, y from the row ramp."""
    c = SIDE // 2
    return (out[:, c, c + 1, 0] - out[:, c, c - 1, 0]) / 2, \
        (out[:, c + 1, c, 1] - out[:, c - 1, c, 1]) / 2


@pytest.mark.parametrize("engine", ENGINES)
def test_zoom_0_5_draws_x_and_y_factors_independently_from_0_5_to_1_5(engine):
    ramp = np.stack(np.meshgrid(np.arange(SIDE), np.arange(SIDE)), axis=-1)[..., ::1]
    images = np.repeat(ramp[None].astype(np.float32), N, axis=0)  # ch0 = column, ch1 = row
    out = ENGINES[engine](AugmentConfig(zoom_range=0.5))(images)
    zx, zy = zoom_factors(out)
    for z in (zx, zy):
        assert z.min() >= 0.5 - 1e-3 and z.max() <= 1.5 + 1e-3
        assert z.min() < 0.6 and z.max() > 1.4
    assert abs(np.corrcoef(zx, zy)[0, 1]) < 0.25  # independent: the aspect ratio changes


@pytest.mark.parametrize("engine", ENGINES)
def test_fill_is_nearest_by_default(engine):
    images = np.zeros((N, SIDE, SIDE, 1), np.float32)
    images[:, :, :8] = 1.0  # a bright left edge
    out = ENGINES[engine](AugmentConfig(width_shift_range=0.2))(images)
    # Shifted right, the gap on the left is filled with the edge's own value (nearest),
    # not zeros (constant) nor the darker inside (reflect would fold it in past 8 px).
    right_shifted = out[:, SIDE // 2, 0, 0] > 0.99
    assert right_shifted.mean() > 0.3
    assert np.all(out[right_shifted][:, :, :4] > 0.99)


def test_report_config_reads_like_the_report():
    assert REPORT_AUGMENT.rescale == pytest.approx(1 / 255)
    assert REPORT_AUGMENT.zoom_bounds == (0.5, 1.5)
    assert REPORT_AUGMENT.shear_range == 0.2 and REPORT_AUGMENT.fill_mode == "nearest"
    assert not REPORT_AUGMENT.is_identity
    with pytest.raises(ValueError, match="fill_mode"):
        AugmentConfig(fill_mode="mirror_ball")


def test_medium_augmentation_stays_between_light_and_the_reports():
    """Zoom 0.85-1.15, turns of up to 10 degrees, shifts of up to 1/8 (8 pixels here): a
    centred marker, which zoom and turns alone leave in place, moves along either axis at
    most (8 cos 10 + 8 sin 10) / 0.85 pixels (the shift turned and magnified), and far more
    than light's 4 pixels at times."""
    config = MEDIUM_AUGMENT.replace(rescale=1.0, fill_mode="constant")
    assert MEDIUM_AUGMENT.zoom_bounds == (0.85, 1.15) and MEDIUM_AUGMENT.rotation_range == 10
    assert MEDIUM_AUGMENT.fill_mode == "reflect" and MEDIUM_AUGMENT.horizontal_flip
    images = np.zeros((N, SIDE, SIDE, 1), np.float32)
    images[:, 31:33, 31:33] = 1.0  # a 2x2 marker at the centre (31.5, 31.5)
    rows, cols = centroids(fast_engine(config)(images))
    moved = np.maximum(np.abs(rows - 31.5), np.abs(cols - 31.5))
    turn = np.radians(10)
    assert moved.max() <= SIDE / 8 * (np.cos(turn) + np.sin(turn)) / 0.85 + 0.5
    assert moved.max() > 6


@pytest.mark.parametrize("engine", ENGINES)
def test_strong_augmentation_is_medium_with_twice_the_zoom_and_wider_turns(engine):
    """Strong is medium with zoom 0.7-1.3 (not 0.85-1.15) and turns of up to 15 degrees;
    both engines draw its zoom factors from the whole range and no further."""
    assert STRONG_AUGMENT == MEDIUM_AUGMENT.replace(zoom_range=0.3, rotation_range=15)
    assert STRONG_AUGMENT.zoom_bounds == (0.7, 1.3)
    ramp = np.stack(np.meshgrid(np.arange(SIDE), np.arange(SIDE)), axis=-1)
    images = np.repeat(ramp[None].astype(np.float32), N, axis=0)  # ch0 = column, ch1 = row
    zoom_only = STRONG_AUGMENT.replace(rescale=1.0, rotation_range=0, width_shift_range=0,
                                       height_shift_range=0, horizontal_flip=False)
    for z in zoom_factors(ENGINES[engine](zoom_only)(images)):
        assert z.min() >= 0.7 - 1e-3 and z.max() <= 1.3 + 1e-3
        assert z.min() < 0.75 and z.max() > 1.25  # past medium's 0.85-1.15 both ways


def test_fast_engine_is_seeded_per_batch():
    import tensorflow as tf

    images = tf.constant(np.random.default_rng(0).random((4, 16, 16, 3)), tf.float32)
    first = fast_augment(images, tf.constant([3, 1]), REPORT_AUGMENT)
    again = fast_augment(images, tf.constant([3, 1]), REPORT_AUGMENT)
    other = fast_augment(images, tf.constant([4, 1]), REPORT_AUGMENT)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def cutout_batch(config, images, seed=2):
    import tensorflow as tf

    return np.asarray(augment_batch_fn(config)(tf.constant(images), tf.constant([seed, 1])))


def erased_boxes(out, reference):
    """Each photo's erased pixels (where it differs from `reference`) as a bounding box
    (top, left, height, width), after checking they fill that box: one rectangle."""
    boxes = []
    for o, r in zip(out, reference):
        changed = np.any(o != r, axis=-1)
        rows, cols = np.nonzero(changed.any(1))[0], np.nonzero(changed.any(0))[0]
        assert changed.sum() == len(rows) * len(cols) == \
            changed[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].sum()
        boxes.append((rows[0], cols[0], len(rows), len(cols)))
    return np.array(boxes)


@pytest.mark.parametrize("engine", ENGINES)
def test_cutout_erases_one_square_per_photo_to_its_mean_colour(engine):
    images = np.random.default_rng(1).random((N, SIDE, SIDE, 3)).astype(np.float32)
    out = cutout_batch(AugmentConfig(cutout=0.25, engine=engine), images)
    boxes = erased_boxes(out, images)
    side = SIDE // 4
    # Centred inside the photo, so clipped at most to half its side; often whole.
    assert boxes[:, 2:].min() >= side // 2 and boxes[:, 2:].max() == side
    assert 0.3 < np.mean(boxes[:, 2:] == side) < 0.95
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    assert centres.min() < SIDE / 8 and centres.max() > SIDE * 7 / 8  # anywhere in the photo
    for o, i, (top, left, height, width) in zip(out, images, boxes):
        np.testing.assert_allclose(o[top:top + height, left:left + width],
                                   np.broadcast_to(i.mean((0, 1)), (height, width, 3)),
                                   rtol=1e-5)


def test_cutout_comes_after_the_warp_and_follows_the_seed():
    images = np.random.default_rng(2).random((N, 16, 16, 3)).astype(np.float32)
    config = AugmentConfig(horizontal_flip=True, cutout=0.5)
    out = cutout_batch(config, images)
    mirrored = cutout_batch(config.replace(cutout=0.0), images)  # the same seed's flips
    erased_boxes(out, mirrored)  # outside one rectangle, the flip alone
    np.testing.assert_array_equal(out, cutout_batch(config, images))
    assert not np.array_equal(out, cutout_batch(config, images, seed=3))
    assert not AugmentConfig(cutout=0.1).is_identity
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="cutout"):
            AugmentConfig(cutout=bad)


def test_shift_and_flip_moves_at_most_two_pixels_and_flips_only_when_asked():
    """Task 3's Keras-layer augmentation: a lone bright pixel stays within 2 pixels of where
    it was (or of its mirror image, with flips), and flips happen only when asked."""
    from data.augment import shift_and_flip

    side, row, col = 16, 8, 3
    images = np.zeros((64, side, side, 1), np.float32)
    images[:, row, col] = 1.0
    for flip in (False, True):
        out = np.asarray(shift_and_flip((side, side, 1), flip=flip, seed=0)(images))
        assert out.shape == images.shape and out.dtype == np.float32
        mirrored = 0
        for image in out[..., 0]:
            rows, cols = np.nonzero(image > 1e-6)
            assert len(rows) and np.abs(rows - row).max() <= 2
            near = np.abs(cols - col).max() <= 2
            far = np.abs(cols - (side - 1 - col)).max() <= 2
            assert near or (flip and far)
            mirrored += bool(far)
        assert (mirrored > 0) == flip  # about half the images mirrored, none without flips
        assert not np.array_equal(out, images)  # the shifts moved something


# -- test-time augmentation ---------------------------------------------------------------------
def test_tta_views_flip_and_shift_with_reflected_borders():
    from data.augment import TTA_VIEWS, tta_views

    image = np.arange(5 * 6, dtype=np.float32).reshape(1, 5, 6, 1)
    views = [np.asarray(v)[0, :, :, 0] for v in tta_views(image, shift=2)]
    x = image[0, :, :, 0]
    assert len(views) == len(TTA_VIEWS)
    np.testing.assert_array_equal(views[0], x)
    np.testing.assert_array_equal(views[1], x[:, ::-1])
    down, up, right, left = views[2:6]
    np.testing.assert_array_equal(down[2:], x[:-2])  # content moved 2 rows down
    np.testing.assert_array_equal(down[:2], x[[2, 1]])  # the border reflected
    np.testing.assert_array_equal(up[:-2], x[2:])
    np.testing.assert_array_equal(right[:, 2:], x[:, :-2])
    np.testing.assert_array_equal(left[:, :-2], x[:, 2:])
    picked = tta_views(image, shift=2, which=(6, 1))
    np.testing.assert_array_equal(np.asarray(picked[0])[0, :, :, 0], views[6])
    np.testing.assert_array_equal(np.asarray(picked[1])[0, :, :, 0], views[1])


def test_tta_zoom_enlarges_the_centre_of_the_photo_and_of_its_mirror():
    """On a ramp (each pixel's value its column), zooming in by z keeps the centre's value
    and divides the slope by z: the centre 14 of 16 columns spread over all 16."""
    from data.augment import tta_views

    ramp = np.tile(np.arange(16, dtype=np.float32), (16, 1))[None, :, :, None]
    zoomed, zoomed_mirror = (np.asarray(v)[0, :, :, 0]
                             for v in tta_views(ramp, shift=1, zoom=16 / 14, which=(6, 7)))
    centre = zoomed[8, 2:14]  # away from the borders, where bilinear resizing clamps
    np.testing.assert_allclose(np.diff(centre), 14 / 16, rtol=1e-5)
    assert (zoomed[8, 7] + zoomed[8, 8]) / 2 == pytest.approx(7.5)
    np.testing.assert_allclose(zoomed_mirror, zoomed[:, ::-1], rtol=1e-6)
    assert np.ptp(zoomed, axis=0).max() == 0  # the rows stay as they were


def test_tta_averages_each_modes_views():
    import keras

    from tasks.task4.submit import tta_probability, view_probabilities

    # A random linear model: the mirror and the shifts are different inputs to it.
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    images = np.random.default_rng(0).random((5, 4, 4, 1)).astype(np.float32)
    batches = [(images[:3], np.zeros(3)), (images[3:], np.zeros(2))]  # labels are ignored
    from data.augment import TTA_VIEWS

    views = view_probabilities(model, batches, shift=1)
    assert views.shape == (len(TTA_VIEWS), 5)
    np.testing.assert_allclose(views[0], model.predict(images, verbose=0)[:, 1], rtol=1e-5)
    np.testing.assert_allclose(views[1], model.predict(images[:, :, ::-1], verbose=0)[:, 1],
                               rtol=1e-5)
    np.testing.assert_array_equal(tta_probability(views, "none"), views[0])
    np.testing.assert_allclose(tta_probability(views, "flip"), views[:2].mean(0))
    np.testing.assert_allclose(tta_probability(views, "flip-shift"), views[:6].mean(0))
    np.testing.assert_allclose(tta_probability(views, "flip-zoom"),
                               views[[0, 1, 6, 7]].mean(0))
    # Asked for some views, it predicts those alone: submit's mode, not every view.
    np.testing.assert_allclose(view_probabilities(model, batches, shift=1, which=(7, 0)),
                               views[[7, 0]], rtol=1e-6)
