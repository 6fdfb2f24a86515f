"""360-degree images (docs/inputs.md section 7): values read back from PNG files written from a
known bandlimited map within the quantisation bound, the colour rules, and every bad image
refused with its exact one-line message through the real command."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from PIL import Image

from pipeline.errors import InputError
from pipeline.io.readers import ReaderOptions, read_map
from pipeline.sphere.grids import RingGrid
from pipeline.sphere.harmonic import alm_to_map, map_to_alm
from pipeline.testing import random_alm, relative_error
from tests.pipeline_helpers import run_cli

H = 16
ARGS = ["--L", str(H), "--J0", "3", "--no-progress"]


def _bandlimited_image(rng) -> np.ndarray:
    """A bandlimit-H map on the cell-centred H x 2H grid, scaled to [0.05, 0.95]."""
    values = alm_to_map(random_alm(rng, H), RingGrid("f1", H, 2 * H), H)
    return 0.05 + 0.9 * (values - values.min()) / np.ptp(values)


@pytest.mark.parametrize(("bits", "dtype"), [(8, np.uint8), (16, np.uint16)])
def test_a_png_of_a_bandlimited_map_reads_back_within_half_a_quantisation_step(tmp_path, rng, bits, dtype):
    values = _bandlimited_image(rng)
    top = 2**bits - 1
    Image.fromarray(np.rint(values * top).astype(dtype)).save(tmp_path / "map.png")
    data = read_map(tmp_path / "map.png")
    assert data.grid == RingGrid("f1", H, 2 * H)
    assert np.max(np.abs(data.values - values)) <= 0.5 / top + 1e-15
    # the coefficients: the analysis projects the quantisation noise (at most half a step per pixel),
    # so their relative error stays below half a step over the map's rms (measured ~3x below it)
    error = relative_error(map_to_alm(data.values, data.grid, H).alm, map_to_alm(values, data.grid, H).alm)
    assert error <= 0.5 / top / np.sqrt(np.mean(values**2))


def test_colour_rules_pick_the_channel_or_the_bt601_luma(tmp_path, rng):
    rgb = rng.integers(0, 256, size=(H, 2 * H, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    for k, channel in enumerate("RGB"):
        assert np.array_equal(read_map(tmp_path / "rgb.png", ReaderOptions(color=channel)).values, rgb[..., k] / 255.0)
    luma = read_map(tmp_path / "rgb.png", ReaderOptions(color="luminance")).values
    assert np.allclose(luma, (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255.0, rtol=0, atol=1e-15)
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    assert np.array_equal(read_map(tmp_path / "rgba.png", ReaderOptions(color="G", alpha="ignore")).values, rgb[..., 1] / 255.0)
    grey = rng.integers(0, 256, size=(H, 2 * H), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.jpg", quality=100)
    assert read_map(tmp_path / "grey.jpg").values.shape == (H, 2 * H)  # greyscale needs no colour rule


def test_images_may_be_declared_on_the_driscoll_healy_grid_only_besides_f1(tmp_path, rng):
    Image.fromarray(np.rint(_bandlimited_image(rng) * 255).astype(np.uint8)).save(tmp_path / "map.png")
    assert read_map(tmp_path / "map.png", ReaderOptions(grid="dh")).grid == RingGrid("dh", H, 2 * H)
    with pytest.raises(InputError, match="^.*map.png: a 360-degree image is read on grid f1 .cell-centred, the default. or dh"):
        read_map(tmp_path / "map.png", ReaderOptions(grid="gl"))


def test_images_above_the_decompression_bomb_limit_are_one_line_and_below_it_silent(tmp_path, monkeypatch, recwarn):
    Image.fromarray(np.arange(2 * H * H, dtype=np.uint8).reshape(H, 2 * H)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", H * H)  # 2 H^2 pixels: above the limit, below twice it (a warning)
    assert read_map(tmp_path / "big.png").values.shape == (H, 2 * H) and not recwarn.list
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", H * H // 4)
    with pytest.raises(InputError) as err:
        read_map(tmp_path / "big.png")
    assert str(err.value) == (f"{tmp_path / 'big.png'}: the image is above Pillow's decompression-bomb limit (Image size "
                              f"({2 * H * H} pixels) exceeds limit of {H * H // 2} pixels, could be decompression bomb DOS attack.)")


def _write_bad_images(folder, rng) -> dict[str, str]:
    """name -> exact expected message (after the file path)."""
    grey = rng.integers(1, 255, size=(H, 2 * H), dtype=np.uint8)
    rgb = rng.integers(0, 256, size=(H, 2 * H, 3), dtype=np.uint8)
    Image.fromarray(grey[:, : 2 * H - 3]).save(folder / "not_2to1.png")
    Image.fromarray(rgb).convert("P").save(folder / "palette.png")
    Image.fromarray(grey).convert("LA").save(folder / "alpha.png")
    Image.fromarray(rgb).save(folder / "colour.png")
    Image.fromarray(grey).save(folder / "good.png")
    Image.fromarray(grey).save(folder / "keyed.png", transparency=int(grey[0, 0]))  # a tRNS colour key
    whole = (folder / "good.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    rotated = Image.fromarray(rgb)
    exif = rotated.getexif()
    exif[0x0112] = 6
    rotated.save(folder / "exif.jpg", exif=exif)
    deep = np.zeros((H, 2 * H, 3), dtype=np.uint16)
    _write_png16_rgb(folder / "deep.png", deep + rng.integers(0, 65535, size=deep.shape).astype(np.uint16))
    return {
        "not_2to1.png": f"a 360-degree image must be H x 2H pixels (equirectangular), got {H} x {2 * H - 3} (H x W)",
        "palette.png": "a palette image holds indices into a colour table: declare a colour rule (--color luminance, R, G or B) "
                       "to read it through its palette",
        "alpha.png": "the image has an alpha channel (mode LA): declare alpha 'ignore' (--alpha ignore) to drop it",
        "colour.png": "a colour image needs a colour rule: declare color (--color luminance, R, G or B; luminance is ITU-R BT.601 luma)",
        "truncated.png": "not a readable image file (OSError: image file is truncated)",
        "exif.jpg": "EXIF orientation 6: the stored pixels are not upright and this reader never rotates them; rotate the "
                    "pixels and remove the tag (or set it to 1)",
        "deep.png": "16-bit colour or grey-with-alpha images are not read (the decoder would keep 8 bits per channel): save "
                    "each channel as a 16-bit greyscale image, or the image as 8-bit colour",
        "keyed.png": "the image has a transparent colour (mode L): declare alpha 'ignore' (--alpha ignore) to drop it",
    }


def _write_png16_rgb(path, array: np.ndarray) -> None:
    """A 16-bit RGB PNG written by hand (Pillow cannot write one)."""
    import struct
    import zlib

    height, width, _ = array.shape
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in array)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.cli
def test_bad_images_fail_with_their_exact_messages_and_the_good_one_is_computed(tmp_path, rng):
    expected = _write_bad_images(tmp_path, rng)
    store = tmp_path / "cache.zarr"
    names = ["good.png", *sorted(expected)]
    result = run_cli("scatter-preprocess", *[str(tmp_path / n) for n in names], "-o", str(store), *ARGS, "--workers", "1")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert result.stdout.strip() == f"{store}: 1 computed, 0 already done, {len(expected)} failed, of {len(names)} inputs"
    for name, message in expected.items():
        assert f"failed: {tmp_path / name}: {message}" in result.stderr.splitlines()
    group = zarr.open_group(str(store), mode="r")
    assert list(group["maps/status"][:]) == [1] + [2] * len(expected)


@pytest.mark.cli
def test_the_colour_rule_is_recorded_and_a_resume_with_another_one_is_refused(tmp_path, rng):
    Image.fromarray(rng.integers(0, 256, size=(H, 2 * H, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    store = tmp_path / "cache.zarr"
    first = run_cli("scatter-preprocess", str(tmp_path / "rgb.png"), "-o", str(store), *ARGS, "--color", "luminance")
    assert first.returncode == 0, first.stderr
    assert zarr.open_group(str(store), mode="r").attrs["input"]["reader"]["color"] == "luminance"
    second = run_cli("scatter-preprocess", str(tmp_path / "rgb.png"), "-o", str(store), *ARGS, "--color", "G")
    assert second.returncode == 2 and second.stderr.startswith(f"error: {store} was written with other input options")
