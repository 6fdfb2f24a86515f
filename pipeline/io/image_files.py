"""Reading 360-degree equirectangular images (PNG, JPEG, TIFF) with Pillow (docs/inputs.md section 7).

Pillow is the imaging library matplotlib already installs, reads every format asked for, and
exposes the facts a careful reader needs (mode, bit depth, palette, EXIF tags) before decoding.
An image is H x 2H pixels on a ring grid: ``f1`` (cell-centred in latitude, the default) or ``dh``
(first row on the north pole), declared with the reader options; column k is at longitude
2 pi k / 2H (docs/inputs.md section 7: half a pixel from a camera's convention, a rotation about
the pole). Values are the stored (gamma-encoded) numbers,
scaled to [0, 1]: 8-bit / 255, 16-bit / 65535; bilevel images are 0 / 1, 32-bit float TIFFs are
read as they are. Nothing is applied silently:

- colour (RGB, or a palette, which is expanded to RGB) needs a declared rule ``color``: 'luminance'
  (ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B, in float64) or one channel 'R', 'G', 'B'; or
  ``fields`` (e.g. R, G, B): several channels, each read as ``color`` would read it alone;
- an alpha channel (RGBA, LA, or a transparent colour: palette or PNG colour key) needs
  ``alpha='ignore'`` (dropped);
- an EXIF orientation other than 1 is refused: the pixels would have to be rotated to be upright,
  and that is the user's decision, not the reader's;
- 16-bit colour or grey with alpha, which Pillow decodes to 8 bits per channel, is refused rather
  than truncated.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import InputError
from pipeline.io.checks import Pixels, parser_errors
from pipeline.sphere.grids import RingGrid

if TYPE_CHECKING:
    from PIL import Image

    from pipeline.io.readers import ReaderOptions

IMAGE_FORMATS = ("PNG", "JPEG", "TIFF")
IMAGE_GRIDS = ("f1", "dh")
COLOR_RULES = ("luminance", "R", "G", "B")
ALPHA_RULES = ("refuse", "ignore")
LUMA_BT601 = (0.299, 0.587, 0.114)
EXIF_ORIENTATION = 0x0112
_SCALE = {"1": 1.0, "L": 255.0, "I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "F": 1.0}


def read_image(path: Path, options: ReaderOptions) -> Pixels:
    """One equirectangular image as float64 values on its declared ring grid."""
    from PIL import Image

    scheme = options.grid or "f1"
    if scheme not in IMAGE_GRIDS:
        raise InputError(f"a 360-degree image is read on grid f1 (cell-centred, the default) or dh (first row on the north pole), not {scheme!r}")
    try:
        return _read(path, scheme, options)
    except Image.DecompressionBombError as err:
        raise InputError(f"the image is above Pillow's decompression-bomb limit ({err})") from None


def _read(path: Path, scheme: str, options: ReaderOptions) -> Pixels:
    from PIL import Image

    with parser_errors("readable image"), warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # large panoramas are what we read
        with Image.open(path) as image:
            if image.format not in IMAGE_FORMATS:
                raise InputError(f"{image.format} images are not read: expected one of {', '.join(IMAGE_FORMATS)}")
            height, width = image.height, image.width
            if width != 2 * height:
                raise InputError(f"a 360-degree image must be H x 2H pixels (equirectangular), got {height} x {width} (H x W)")
            _check_orientation(image)
            _check_bit_depth(path, image)
            values = _decode(image, options)
    return Pixels(values, RingGrid(scheme, height, width))


def _check_orientation(image: Image.Image) -> None:
    orientation = image.getexif().get(EXIF_ORIENTATION)
    if orientation not in (None, 1):
        raise InputError(f"EXIF orientation {orientation}: the stored pixels are not upright and this reader never rotates "
                         "them; rotate the pixels and remove the tag (or set it to 1)")


def _check_bit_depth(path: Path, image: Image.Image) -> None:
    """Refuse 16-bit colour and 16-bit grey with alpha: Pillow decodes them to 8 bits per channel
    without a word."""
    if image.format == "PNG":
        with open(path, "rb") as handle:
            header = handle.read(26)
        bit_depth, color_type = struct.unpack(">BB", header[24:26])
        deep_color = bit_depth == 16 and color_type in (2, 4, 6)  # RGB, grey + alpha, RGBA
    elif image.format == "TIFF":
        bits = image.tag_v2.get(258, (8,))
        deep_color = len(bits) > 1 and max(bits) > 8
    else:
        deep_color = False
    if deep_color:
        raise InputError("16-bit colour or grey-with-alpha images are not read (the decoder would keep 8 bits per channel): "
                         "save each channel as a 16-bit greyscale image, or the image as 8-bit colour")


def _decode(image: Image.Image, options: ReaderOptions) -> np.ndarray:
    channel = image.mode in ("RGBA", "LA", "PA")
    has_alpha = channel or "transparency" in image.info  # a palette's or a PNG colour key
    if has_alpha and options.alpha != "ignore":
        what = "an alpha channel" if channel else "a transparent colour"
        raise InputError(f"the image has {what} (mode {image.mode}): declare alpha 'ignore' (--alpha ignore) to drop it")
    if image.mode in ("P", "PA"):
        if options.color is None:
            raise InputError("a palette image holds indices into a colour table: declare a colour rule "
                             "(--color luminance, R, G or B) to read it through its palette")
        image = image.convert("RGBA" if has_alpha else "RGB")
    if image.mode in ("RGB", "RGBA"):
        rgb = np.asarray(image, dtype=np.float64)[..., :3] / 255.0
        return _channels(rgb, options.fields) if options.fields else _from_color(rgb, options.color)
    if options.fields:
        raise InputError(f"fields {', '.join(map(str, options.fields))} are the channels of a colour image; this one is mode {image.mode}")
    if image.mode == "LA":
        return np.ascontiguousarray(np.asarray(image, dtype=np.float64)[..., 0]) / 255.0
    if image.mode not in _SCALE:
        raise InputError(f"image mode {image.mode} is not read: expected greyscale (8- or 16-bit), bilevel, "
                         "32-bit float, RGB or a palette")
    return np.asarray(image, dtype=np.float64) / _SCALE[image.mode]


def _channels(rgb: np.ndarray, fields: tuple) -> np.ndarray:
    """The colour channels named by `fields` (R, G, B), each exactly as ``color`` = that channel reads it."""
    names = [str(f).upper() for f in fields]
    unknown = [f for f in names if f not in ("R", "G", "B")]
    if unknown:
        raise InputError(f"the fields of a colour image are its channels R, G, B, got {', '.join(map(str, fields))}")
    return np.stack([_from_color(rgb, name) for name in names])


def _from_color(rgb: np.ndarray, rule: str | None) -> np.ndarray:
    if rule is None:
        raise InputError("a colour image needs a colour rule: declare color (--color luminance, R, G or B; "
                         "luminance is ITU-R BT.601 luma)")
    if rule == "luminance":
        return np.ascontiguousarray(rgb @ np.array(LUMA_BT601))
    return np.ascontiguousarray(rgb[..., "RGB".index(rule)])
