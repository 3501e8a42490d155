"""Image augmentation with ImageDataGenerator's parameters, on two engines.

The course reports augmented with Keras's `ImageDataGenerator` (IDG): rescale 1/255, shifts
0.2, zoom 0.5, shear 0.2, horizontal flip. `AugmentConfig` takes the same names with the same
meanings, so those settings read the same here. Mind IDG's conventions, kept on purpose:

- `shear_range` is in DEGREES: 0.2 is a shear of at most 0.2 degrees, almost none.
- `zoom_range` 0.5 draws the x and y scale factors independently from [0.5, 1.5], so the
  aspect ratio changes (`keras.layers.RandomZoom` keeps it unless told otherwise); a factor
  above 1 shows less of the image (zoom out), as in IDG.
- `fill_mode` is "nearest" (Keras's preprocessing layers default to "reflect").

The fast engine matches IDG pixel for pixel with "nearest" and "reflect". With "constant"
only the one-pixel seam between image and fill differs, and "wrap" differs: SciPy's "wrap"
repeats the image with a period one pixel short (a SciPy quirk), TensorFlow's does not.

Two engines apply it:

- `"legacy"`: IDG itself (`tf_keras.preprocessing.image.ImageDataGenerator`, from the
  `tf-keras` package; Keras 3 no longer ships it), one image at a time through SciPy.
- `"fast"` (default): IDG's parameters are drawn for every image of a batch, composed into
  one affine matrix per image exactly as IDG composes them (flip included), and applied to
  the whole batch at once with `keras.ops.image.affine_transform`: one bilinear resample per
  image instead of IDG's one per channel, inside the tf.data graph.

    augment = augment_batch_fn(REPORT_AUGMENT)          # images (B, H, W, C) float32
    dataset = dataset.map(lambda x, y: (augment(x, seed), y))

One addition IDG lacks, on either engine: `cutout`, a square of the photo erased to its mean
colour after the transform (DeVries & Taylor, 2017).

Task 3's strong CNN does not use IDG's parameters: its augmentation, `shift_and_flip` (at the
end of this file), is two Keras preprocessing layers (shifts of up to 2 pixels, horizontal
flips on CIFAR-10 only) mapped over the training batches.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

ENGINES = ("fast", "legacy")
FILL_MODES = ("nearest", "constant", "reflect", "wrap")


@dataclass(frozen=True)
class AugmentConfig:
    """ImageDataGenerator's augmentation parameters (same names, same meanings).

    Args:
        rescale: multiply pixel values by this (the reports' 1/255); None = no rescaling.
        rotation_range: rotate by a uniform angle in [-r, r] DEGREES.
        width_shift_range: shift by a uniform fraction in [-s, s] of the width.
        height_shift_range: shift by a uniform fraction in [-s, s] of the height.
        shear_range: shear by a uniform angle in [-s, s] DEGREES (IDG's unit).
        zoom_range: z -> scale factors drawn independently for x and y from [1 - z, 1 + z];
            or a (low, high) pair.
        horizontal_flip: mirror half of the images left-right.
        fill_mode: how points outside the image are filled: nearest, constant, reflect, wrap.
        cval: the fill value for fill_mode "constant".
        engine: "fast" (affine per batch in tf.data) or "legacy" (IDG itself).
        cutout: after the transform, erase a square of this fraction of the side (0.25: 16
            pixels at 64x64) centred at a random point (clipped at the borders), filled with
            the image's mean colour (DeVries & Taylor's cutout; not an IDG parameter).

    Example:
        AugmentConfig(rescale=1 / 255, width_shift_range=0.2, horizontal_flip=True)
    """

    rescale: float | None = None
    rotation_range: float = 0.0
    width_shift_range: float = 0.0
    height_shift_range: float = 0.0
    shear_range: float = 0.0
    zoom_range: float | tuple[float, float] = 0.0
    horizontal_flip: bool = False
    fill_mode: str = "nearest"
    cval: float = 0.0
    engine: str = "fast"
    cutout: float = 0.0

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}.")
        if self.fill_mode not in FILL_MODES:
            raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {self.fill_mode!r}.")
        for name in ("rotation_range", "width_shift_range", "height_shift_range",
                     "shear_range"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        if not 0 <= self.cutout <= 1:
            raise ValueError(f"cutout must be a fraction of the side in [0, 1], got "
                             f"{self.cutout}.")
        low, high = self.zoom_bounds
        if not 0 < low <= high:
            raise ValueError(f"zoom_range must give factors 0 < low <= high, got "
                             f"{self.zoom_range}.")

    @property
    def zoom_bounds(self) -> tuple[float, float]:
        """The scale factors' range, as IDG reads `zoom_range`."""
        if isinstance(self.zoom_range, (int, float)):
            return 1 - self.zoom_range, 1 + self.zoom_range
        low, high = self.zoom_range
        return float(low), float(high)

    @property
    def is_identity(self) -> bool:
        """True when the photos are never changed (rescaling aside)."""
        return not (self.rotation_range or self.width_shift_range or self.height_shift_range
                    or self.shear_range or self.zoom_bounds != (1, 1) or self.horizontal_flip
                    or self.cutout)

    def replace(self, **changes) -> AugmentConfig:
        return AugmentConfig(**{**asdict(self), **changes})

    def describe(self) -> str:
        """What it does to a photo, in words read off its parameters (`--help`, reports)."""
        parts = ["mirror half the photos"] if self.horizontal_flip else []
        shift = max(self.width_shift_range, self.height_shift_range)
        if shift:
            parts.append(f"shifts of up to {_share(shift)} of the side")
        low, high = self.zoom_bounds
        if (low, high) != (1, 1):
            parts.append(f"zoom {low:g}-{high:g}")
        if self.rotation_range:
            parts.append(f"turns of up to {self.rotation_range:g} degrees")
        if self.shear_range:
            parts.append(f"shear of up to {self.shear_range:g} degrees (IDG's unit)")
        if self.cutout:
            parts.append(f"cutout of {_share(self.cutout)} of the side")
        if not parts:
            return "none: the photos as they are"
        moved = shift or (low, high) != (1, 1) or self.rotation_range or self.shear_range
        if moved:
            parts.append(f"borders filled {self.fill_mode}")
        return ", ".join(parts)

    def to_generator(self):
        """The equivalent `tf_keras` ImageDataGenerator (for the legacy engine)."""
        from tf_keras.preprocessing.image import ImageDataGenerator

        return ImageDataGenerator(
            rescale=self.rescale, rotation_range=self.rotation_range,
            width_shift_range=self.width_shift_range,
            height_shift_range=self.height_shift_range, shear_range=self.shear_range,
            zoom_range=list(self.zoom_bounds), horizontal_flip=self.horizontal_flip,
            fill_mode=self.fill_mode, cval=self.cval)


def _share(value: float) -> str:
    """0.125 -> '1/8'; 0.2 -> '0.2'."""
    from fractions import Fraction

    share = Fraction(value).limit_denominator(64)
    exact = share.numerator == 1 and abs(float(share) - value) < 1e-9
    return f"1/{share.denominator}" if exact else f"{value:g}"


# The reports' setting (report B): rescale 1/255, shifts 0.2, zoom 0.5, shear 0.2, flip.
REPORT_AUGMENT = AugmentConfig(rescale=1 / 255, width_shift_range=0.2, height_shift_range=0.2,
                               shear_range=0.2, zoom_range=0.5, horizontal_flip=True)
NO_AUGMENT = AugmentConfig(rescale=1 / 255)
# Mirror images and shifts of up to 1/16 of the side (4 pixels at 64x64), borders reflected:
# for short fits (tuning's trials of minutes), which the report's heavy augmentation leaves
# under-fitted.
LIGHT_AUGMENT = AugmentConfig(rescale=1 / 255, width_shift_range=1 / 16,
                              height_shift_range=1 / 16, horizontal_flip=True,
                              fill_mode="reflect")
# Between the two: mirror, shifts of up to 1/8 of the side, zoom by 0.85-1.15 and turns of
# up to 10 degrees, borders reflected.
MEDIUM_AUGMENT = AugmentConfig(rescale=1 / 255, rotation_range=10, width_shift_range=1 / 8,
                               height_shift_range=1 / 8, zoom_range=0.15,
                               horizontal_flip=True, fill_mode="reflect")
# Medium's warp, stronger: zoom by 0.7-1.3 and turns of up to 15 degrees, for long runs whose
# wide net learns the medium-augmented photos by heart.
STRONG_AUGMENT = MEDIUM_AUGMENT.replace(rotation_range=15, zoom_range=0.3)
FLIP_AUGMENT = AugmentConfig(rescale=1 / 255, horizontal_flip=True)
AUGMENTS = {"flip": FLIP_AUGMENT, "light": LIGHT_AUGMENT, "medium": MEDIUM_AUGMENT,
            "strong": STRONG_AUGMENT, "report": REPORT_AUGMENT, "none": NO_AUGMENT}


# -- the fast engine ---------------------------------------------------------------------------
def affine_parameters(config: AugmentConfig, uniform, height: int, width: int):
    """IDG's random transform parameters for a batch, from `uniform` (B, 7) draws in [0, 1).

    Returns a dict of (B,) tensors: theta (deg), tx, ty (pixels), shear (deg), zx, zy, flip.
    As in IDG, `tx` comes from height_shift_range (times the height) and `ty` from
    width_shift_range (times the width). In `keras.ops`, so it runs on any backend (in
    tf.data's graph here; on JAX in `tasks/task4/portable.py`).
    """
    from keras import ops

    def spread(column, half_range):
        return (2.0 * uniform[:, column] - 1.0) * half_range

    low, high = config.zoom_bounds
    flip = ops.cast(uniform[:, 6] < 0.5, "float32") if config.horizontal_flip else \
        ops.zeros_like(uniform[:, 6])
    height_shift = config.height_shift_range * (height if config.height_shift_range < 1 else 1)
    width_shift = config.width_shift_range * (width if config.width_shift_range < 1 else 1)
    return {
        "theta": spread(0, config.rotation_range),
        "tx": spread(1, height_shift),
        "ty": spread(2, width_shift),
        "shear": spread(3, config.shear_range),
        "zx": low + (high - low) * uniform[:, 4],
        "zy": low + (high - low) * uniform[:, 5],
        "flip": flip,
    }


def affine_transforms(params, height: int, width: int):
    """One (B, 8) `affine_transform` row per image: IDG's matrix product, then the flip.

    IDG builds M = rotation . shift . shear . zoom in (x, y) = (column, row) coordinates,
    centred on the image, mapping an output pixel to the input point it samples; that is
    exactly the projective transform `keras.ops.image.affine_transform` takes. A horizontal
    flip of the output, x -> (width - 1) - x, is folded into the same matrix. In
    `keras.ops`, as `affine_parameters`.
    """
    from keras import ops

    theta = params["theta"] * (math.pi / 180)
    shear = params["shear"] * (math.pi / 180)
    cos, sin = ops.cos(theta), ops.sin(theta)
    zx, zy, tx, ty = params["zx"], params["zy"], params["tx"], params["ty"]
    # rotation . shift . shear . zoom, multiplied out (IDG's `apply_affine_transform`).
    m00 = cos * zx
    m01 = (-cos * ops.sin(shear) - sin * ops.cos(shear)) * zy
    m02 = cos * tx - sin * ty
    m10 = sin * zx
    m11 = (-sin * ops.sin(shear) + cos * ops.cos(shear)) * zy
    m12 = sin * tx + cos * ty
    # transform_matrix_offset_center(M, h, w): offset . M . reset, offsets (h/2 - .5, w/2 - .5).
    ox, oy = height / 2 - 0.5, width / 2 - 0.5
    m02 = m02 + ox - m00 * ox - m01 * oy
    m12 = m12 + oy - m10 * ox - m11 * oy
    # Horizontal flip of the output: sample M . (width - 1 - x, y).
    sign = 1.0 - 2.0 * params["flip"]
    shift = params["flip"] * (width - 1)
    m02 = m02 + m00 * shift
    m12 = m12 + m10 * shift
    m00 = m00 * sign
    m10 = m10 * sign
    zeros = ops.zeros_like(m00)
    return ops.stack([m00, m01, m02, m10, m11, m12, zeros, zeros], axis=1)


def fast_augment(images, seed, config: AugmentConfig):
    """Augment a batch (B, H, W, C) float32 with IDG's semantics, then the config's cutout;
    `seed` is a (2,) int tensor.

    Stateless: the same seed gives the same batch, so tf.data can hand each batch its own
    seed (a fresh one every epoch) and runs stay reproducible.
    """
    return cutout(_warp(images, seed, config), seed, config.cutout)


def _warp(images, seed, config: AugmentConfig):
    """IDG's geometric transforms of `fast_augment`."""
    import keras
    import tensorflow as tf

    geometry = config.replace(cutout=0.0)
    if geometry.is_identity:
        return images
    shape = tf.shape(images)
    height, width = images.shape[1], images.shape[2]
    uniform = tf.random.stateless_uniform(tf.stack([shape[0], 7]), seed=seed)
    if geometry == AugmentConfig(rescale=config.rescale, horizontal_flip=True,
                                 fill_mode=config.fill_mode, cval=config.cval):
        # Mirroring alone moves whole pixels: select, instead of resampling every image.
        flip = tf.reshape(uniform[:, 6] < 0.5, (-1, 1, 1, 1))
        return tf.where(flip, tf.reverse(images, axis=[2]), images)
    transforms = affine_transforms(affine_parameters(config, uniform, height, width),
                                   height, width)
    return keras.ops.image.affine_transform(images, transforms, interpolation="bilinear",
                                            fill_mode=config.fill_mode,
                                            fill_value=config.cval)


def cutout(images, seed, fraction: float):
    """Erase one square per image of a batch (B, H, W, C): sides `fraction` of the image's,
    centred at a uniform random point (so clipped at the borders), filled with that image's
    mean colour; `fraction` 0 leaves the batch as it is. `seed` (2,) is folded, so the
    squares do not follow the warp's draws."""
    import tensorflow as tf

    if not fraction:
        return images
    height, width = images.shape[1], images.shape[2]
    centres = tf.random.stateless_uniform(tf.stack([tf.shape(images)[0], 2]),
                                          seed=tf.random.experimental.stateless_fold_in(
                                              seed, 1))

    def inside(centre, size):  # (B, size): pixel centres within the square's half side
        pixels = tf.range(size, dtype=tf.float32) + 0.5
        return tf.abs(pixels[None, :] - centre[:, None] * size) < fraction * size / 2

    erased = inside(centres[:, 0], height)[:, :, None] & inside(centres[:, 1], width)[:, None, :]
    mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
    return tf.where(erased[..., None], mean, images)


# -- the legacy engine -------------------------------------------------------------------------
def legacy_augmenter(config: AugmentConfig):
    """A NumPy function (B, H, W, C) float32 -> augmented batch, through IDG itself (its
    transforms only: `augment_batch_fn` adds the config's cutout).

    Draws from NumPy's global random state, as IDG does (seeded by `set_seed`).
    """
    import numpy as np

    generator = config.replace(rescale=None).to_generator()

    def augment(images):
        images = np.asarray(images, dtype=np.float32)
        if config.is_identity:
            return images
        return np.stack([generator.random_transform(image) for image in images]).astype(
            np.float32)

    return augment


def augment_batch_fn(config: AugmentConfig):
    """`f(images, seed) -> images` for tf.data, on the config's engine (no rescaling), the
    cutout included on either engine."""
    import tensorflow as tf

    if config.engine == "fast":
        return lambda images, seed: fast_augment(images, seed, config)
    legacy = legacy_augmenter(config.replace(cutout=0.0))

    def augment(images, seed):
        out = tf.numpy_function(legacy, [images], tf.float32, stateful=True)
        out.set_shape(images.shape)
        return cutout(out, seed, config.cutout)

    return augment


# -- Keras preprocessing layers: task 3's strong CNN -------------------------------------------
def shift_and_flip(image_shape, flip: bool, seed: int = 0, max_shift_pixels: int = 2):
    """`augment(images) -> images` on a float32 batch (B, H, W, C) with Keras's layers:
    random shifts of up to `max_shift_pixels` each way (constant 0 fill), then, if `flip`, a
    random horizontal flip. The augmentation of task 3's strong CNN (`cifar10-cnn`), passed to
    `data.arrays.array_dataset(augment=...)`.

    Shifts of up to 2 pixels: without them the strong net learns Fashion-MNIST's training set
    by heart in a 20-minute run (tasks/task3/README.md). Flip CIFAR-10 only: every shoe in
    Fashion-MNIST points the same way, and a mirrored digit is another digit.

    Example:
        augment = shift_and_flip(splits.image_shape, flip=splits.name == "cifar10", seed=0)
    """
    import keras

    height, width = image_shape[:2]
    shift = keras.layers.RandomTranslation(max_shift_pixels / height, max_shift_pixels / width,
                                           fill_mode="constant", seed=seed)
    flipper = keras.layers.RandomFlip("horizontal", seed=seed + 1) if flip else None

    def augment(images):
        images = shift(images, training=True)
        return flipper(images, training=True) if flipper else images

    return augment


# -- test-time augmentation: task 4's submission -----------------------------------------------
# Each photo is predicted as several views and the class probabilities are averaged. "flip":
# the photo and its mirror. "flip-shift": also the photo shifted by `shift` pixels up, down,
# left and right (reflected at the border, as the training shifts fill). "flip-zoom": the
# photo, its mirror, and both zoomed in by `TTA_ZOOM` (the centre 1/1.15 of the side, 56 of
# 64 pixels, enlarged to the full size: the edge of the medium augmentation's zoom range).
# A mode is the numbers of its views in `TTA_VIEWS`. (A third scale, 1.3x, scored under
# flip-zoom in both runs that measured it: tasks/task4/README.md, Submission.)
TTA_VIEWS = ("photo", "mirror", "down", "up", "right", "left", "zoomed", "zoomed mirror")
TTA_MODES = {"none": (0,), "flip": (0, 1), "flip-shift": (0, 1, 2, 3, 4, 5),
             "flip-zoom": (0, 1, 6, 7)}
TTA_ZOOM = 1.15


def describe_tta(mode: str) -> str:
    """The views a test-time augmentation mode averages, in words (`--help`, reports)."""
    words = {"zoomed": f"zoomed {TTA_ZOOM:g}x", "zoomed mirror": f"mirror zoomed {TTA_ZOOM:g}x"}
    return ", ".join(words.get(TTA_VIEWS[view], TTA_VIEWS[view]) for view in TTA_MODES[mode])


def tta_views(images, shift: int, zoom: float = TTA_ZOOM, which=None):
    """The test-time views numbered `which` (default: all, in `TTA_VIEWS` order) of a float32
    batch (B, H, W, C): the batch, its mirror, the batch shifted `shift` pixels down, up,
    right and left, then the batch and its mirror zoomed in by `zoom` (a centred crop of
    1/zoom of each side, resized back bilinearly)."""
    import tensorflow as tf

    height, width = images.shape[1], images.shape[2]

    @functools.cache  # made once, for the views that ask
    def padded():
        return tf.pad(images, [[0, 0], [shift, shift], [shift, shift], [0, 0]], mode="REFLECT")

    @functools.cache
    def mirror():
        return tf.image.flip_left_right(images)

    def shifted(dy: int, dx: int):  # content moves by (dy, dx)
        top, left = shift - dy, shift - dx
        return padded()[:, top:top + height, left:left + width, :]

    def zoomed(batch):
        crop_height, crop_width = round(height / zoom), round(width / zoom)
        top, left = (height - crop_height) // 2, (width - crop_width) // 2
        return tf.image.resize(batch[:, top:top + crop_height, left:left + crop_width, :],
                               (height, width), method="bilinear")

    make = (lambda: images, mirror, lambda: shifted(shift, 0), lambda: shifted(-shift, 0),
            lambda: shifted(0, shift), lambda: shifted(0, -shift), lambda: zoomed(images),
            lambda: zoomed(mirror()))
    return [make[view]() for view in (range(len(make)) if which is None else which)]
