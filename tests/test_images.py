"""Decoding of real files written in every awkward mode, the bomb guard, and WebP thumbnails."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from precompute import images
from precompute.images import ImageError, check_bytes, encode_webp, load_rgb, save_webp


def _halves(w: int, h: int, left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = left
    arr[:, w // 2 :] = right
    return Image.fromarray(arr)


def _close(pixel: np.ndarray, expected: tuple[int, int, int], tol: int = 12) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(expected)) <= tol))


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored 40 wide x 20 high, red left / blue right; orientation 6 = "rotate 90 CW to display".
    im = _halves(40, 20, (255, 0, 0), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    im.save(path, quality=95, exif=exif.tobytes())
    arr = load_rgb(path)
    assert arr.shape == (40, 20, 3)  # upright: 20 wide, 40 high
    assert _close(arr[5, 10], (255, 0, 0))  # the stored left edge is now the top
    assert _close(arr[35, 10], (0, 0, 255))
    assert check_bytes(path.read_bytes()) == (20, 40)


def test_palette_with_transparency_is_composited_over_white(tmp_path: Path) -> None:
    im = Image.new("P", (10, 4), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (5, 0, 10, 4))
    path = tmp_path / "palette.png"
    im.save(path, transparency=0)
    arr = load_rgb(path)
    assert arr.dtype == np.uint8 and arr.shape == (4, 10, 3)
    assert tuple(arr[0, 0]) == (255, 255, 255)  # transparent red -> white background, not red
    assert tuple(arr[0, 9]) == (0, 0, 255)


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    arr = load_rgb(path)
    assert arr.shape == (16, 16, 3)
    assert _close(arr[8, 8], (255, 0, 0), tol=20)


def test_16bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257, 128 * 257, 65535]], np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    arr = load_rgb(path)
    assert arr[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (arr[..., 0] == arr[..., 2]).all()


def test_32bit_int_and_float_images(tmp_path: Path) -> None:
    path_i = tmp_path / "int.tif"
    Image.fromarray(np.array([[0, 32896, 65535]], np.int32)).save(path_i)
    assert Image.open(path_i).mode == "I"
    assert load_rgb(path_i)[0, :, 1].tolist() == [0, 128, 255]

    path_f = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32)).save(path_f)
    assert Image.open(path_f).mode == "F"
    assert load_rgb(path_f)[0, :, 0].tolist() == [0, 128, 255]

    path_wide = tmp_path / "wide.tif"  # outside every known range: stretched over min..max
    Image.fromarray(np.array([[-1000.0, 0.0, 1000.0]], np.float32)).save(path_wide)
    assert load_rgb(path_wide)[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize(
    ("mode", "color", "expected"),
    [
        ("RGBA", (255, 0, 0, 0), (255, 255, 255)),  # fully transparent -> white
        ("RGBA", (255, 0, 0, 255), (255, 0, 0)),
        ("RGBA", (0, 0, 0, 128), (127, 127, 127)),  # half black over white
        ("LA", (0, 128), (127, 127, 127)),
        ("L", 77, (77, 77, 77)),
        ("1", 1, (255, 255, 255)),
    ],
)
def test_modes_to_rgb(tmp_path: Path, mode: str, color: object, expected: tuple[int, int, int]) -> None:
    path = tmp_path / f"img_{mode}.png"
    Image.new(mode, (6, 5), color).save(path)
    arr = load_rgb(path)
    assert arr.shape == (5, 6, 3) and arr.dtype == np.uint8
    assert _close(arr[2, 2], expected, tol=1)


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert _close(load_rgb(path)[4, 4], (255, 0, 0), tol=4)


def _jpeg_bytes(w: int = 64, h: int = 48) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("zero.jpg", b"", "empty file"),
        ("text.jpg", b"hello, I am not a JPEG at all\n" * 5, "not an image"),
        ("truncated.jpg", _jpeg_bytes()[:-200], "truncated"),
        ("header_only.jpg", _jpeg_bytes()[:300], "truncated"),
        ("garbage.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image"),
    ],
)
def test_bad_files_raise_image_error_naming_the_file(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError) as err:
        load_rgb(path)
    assert name in str(err.value)
    assert message in str(err.value)
    with pytest.raises(ImageError):
        check_bytes(content, name)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def _png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR claiming ``width x height``, an empty IDAT and IEND: no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"") + _chunk(b"IEND", b"")


def test_decompression_bomb_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(100_000, 100_000))  # 57 bytes claiming 10 gigapixels
    with pytest.raises(ImageError, match="decompression bomb") as err:
        load_rgb(path)
    assert "bomb.png" in str(err.value)
    # Under Pillow's own limit (~89 Mpx) but over the project's: refused by our check, before any decoding.
    path.write_bytes(_png_header_only(9_000, 9_000))
    with pytest.raises(ImageError, match=r"9000x9000 = 81,000,000 pixels, limit 50,000,000"):
        check_bytes(path.read_bytes(), "bomb.png")


def test_project_pixel_limit_and_pillow_warning_are_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (100, 100), (1, 2, 3)).save(path)
    assert load_rgb(path).shape == (100, 100, 3)
    monkeypatch.setattr(images, "MAX_PIXELS", 5_000)
    with pytest.raises(ImageError, match=r"100x100 = 10,000 pixels, limit 5,000"):
        load_rgb(path)
    monkeypatch.undo()
    # Pillow's own DecompressionBombWarning (between its limit and 2x) becomes the same refusal, not a warning.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6_000)
    with pytest.raises(ImageError, match="decompression bomb"):
        load_rgb(path)


def test_resize_to_square_bilinear(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    _halves(300, 100, (255, 0, 0), (0, 255, 0)).save(path)
    arr = load_rgb(path, 64)
    assert arr.shape == (64, 64, 3) and arr.dtype == np.uint8
    assert tuple(arr[32, 2]) == (255, 0, 0) and tuple(arr[32, 61]) == (0, 255, 0)
    middle = arr[32, 31:33, 0]
    assert middle.max() > 0 and middle.min() < 255 and arr[32, 30:34, 0].tolist() != [255, 255, 0, 0]


def test_large_jpeg_draft_decode_matches_full_decode(tmp_path: Path) -> None:
    yy, xx = np.mgrid[0:1200, 0:1600]
    arr = np.stack([(xx // 7) % 256, (yy // 5) % 256, ((xx + yy) // 11) % 256], -1).astype(np.uint8)
    path = tmp_path / "big.jpg"
    Image.fromarray(arr).save(path, quality=92)
    fast = load_rgb(path, 224).astype(int)
    full = np.asarray(Image.open(path).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)).astype(int)
    assert fast.shape == (224, 224, 3)
    assert np.abs(fast - full).mean() < 4.0


def test_encode_webp_deterministic_fits_and_never_upscales(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 255, (500, 1000, 3), dtype=np.uint8)
    a = encode_webp(arr, 128)
    assert a == encode_webp(arr.copy(), 128)
    assert Image.open(io.BytesIO(a)).size == (128, 64)
    assert Image.open(io.BytesIO(encode_webp(arr[:32, :20], 384))).size == (20, 32)
    assert Image.open(io.BytesIO(encode_webp(Image.fromarray(arr).convert("RGBA"), 384))).size == (384, 192)

    path = tmp_path / "out" / "thumb.webp"
    save_webp(arr, path, 128)
    save_webp(arr, tmp_path / "out" / "again.webp", 128)
    assert path.read_bytes() == a == (tmp_path / "out" / "again.webp").read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == ["again.webp", "thumb.webp"]  # no temp files left
    with pytest.raises(ValueError):
        encode_webp(np.zeros((4, 4, 3), np.float32), 64)
