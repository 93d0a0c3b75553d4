"""Robust image decoding (Pillow -> RGB uint8) and WebP thumbnails.

Every image that enters the pipeline goes through :func:`decode`, which turns whatever Pillow can open into a
plain 8-bit RGB image:

- EXIF orientation is applied (``ImageOps.exif_transpose``), so a phone photo is upright.
- Alpha (RGBA, LA, PA, palette with a transparent index) is composited over **white**.
- 16-bit and 32-bit greyscale (``I;16*``, ``I``, ``F``) are *scaled* to 8 bit, never clipped: ``I;16`` and ``I``
  values in 0..65535 are divided by 257 (65535 -> 255); ``F`` in [0, 1] is multiplied by 255, ``F`` in [0, 255] is
  kept; anything else is stretched from its own min..max.
- CMYK uses the embedded ICC profile (converted to sRGB with LittleCMS) when there is one, else Pillow's
  conversion. Other colour profiles are left alone (browsers show those images the same way).
- Multi-frame files (GIF, TIFF) give their first frame.

Decompression bombs: an image of more than :data:`MAX_PIXELS` pixels is refused before its pixels are decoded,
and Pillow's own ``DecompressionBombWarning``/``Error`` is turned into the same refusal. Every failure
(zero-byte, truncated, corrupt, not an image, too large) raises :class:`ImageError` whose message names the file
and the reason, so callers can skip the file with one clear warning.

Resizing (``load_rgb(path, size)``) maps the image to ``size x size`` (aspect ratio not kept, as Keras'
``load_img(target_size=...)`` does) with :func:`precompute.resize.resize_bilinear`: Pillow's bilinear convolution
(its support grows with the shrink factor, so downscaling is antialiased), always horizontal pass first, so the
pixels do not depend on the Pillow version and the site's in-browser search can repeat them bit for bit. For the
same reason JPEGs are decoded at full resolution (no reduced-DCT ``draft``): a browser cannot decode at 1/2 or 1/8
scale, and a draft decode gives other pixels.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps

from precompute.atomic import write_bytes
from precompute.resize import resize_bilinear

#: Refuse images larger than this many pixels (about 8000 x 6000): a decompression-bomb guard that is well
#: below Pillow's own default (~89 Mpx) and far above any dataset photo we need.
MAX_PIXELS = 50_000_000

#: File extensions treated as images when a dataset folder is scanned (lower case, with the dot).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm"}
    | ({".avif"} & set(Image.registered_extensions()))
)

#: Alpha is composited over this colour.
BACKGROUND = (255, 255, 255)

_WARNINGS_LOCK = threading.Lock()
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}


class ImageError(Exception):
    """An image file that cannot be used (unreadable, corrupt, truncated, too large...)."""


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _open(data: bytes, label: str) -> Image.Image:
    """Open (header only) with the decompression-bomb guard; the returned image is not loaded yet."""
    if not data:
        raise ImageError(f"{label}: empty file (0 bytes)")
    try:
        # catch_warnings mutates process-wide state: the lock keeps concurrent loaders (threads) from interleaving
        # it. Only the header parse runs under it; pixel decoding (load) does not.
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{label}: refused as a possible decompression bomb ({exc})") from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageError(f"{label}: not an image Pillow can read") from exc
    except Exception as exc:  # Pillow plugins raise many types (SyntaxError, ValueError, struct.error...)
        if "truncated" in str(exc).lower():
            raise ImageError(f"{label}: truncated image ({exc})") from exc
        raise ImageError(f"{label}: corrupt image header ({type(exc).__name__}: {exc})") from exc
    w, h = im.size
    if w <= 0 or h <= 0:
        raise ImageError(f"{label}: invalid image size {w}x{h}")
    if w * h > MAX_PIXELS:
        raise ImageError(
            f"{label}: refused as a possible decompression bomb ({w}x{h} = {w * h:,} pixels, limit {MAX_PIXELS:,})"
        )
    return im


def _load(im: Image.Image, label: str) -> None:
    try:
        im.load()
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{label}: refused as a possible decompression bomb ({exc})") from exc
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason.lower():
            raise ImageError(f"{label}: truncated image ({reason})") from exc
        raise ImageError(f"{label}: corrupt image data ({type(exc).__name__}: {reason})") from exc


def _scale_to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """Scale one-channel high-bit-depth data to uint8 (see module docstring for the rules)."""
    a = arr.astype(np.float64)
    finite = np.isfinite(a)
    if not finite.all():
        a = np.where(finite, a, 0.0)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if mode in _SIXTEEN_BIT or (mode == "I" and lo >= 0 and hi <= 65535):
        out = a / 257.0
    elif mode == "F" and lo >= 0 and hi <= 1.0:
        out = a * 255.0
    elif mode == "F" and lo >= 0 and hi <= 255.0:
        out = a
    elif hi > lo:
        out = (a - lo) * (255.0 / (hi - lo))
    else:
        out = np.zeros_like(a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    icc = im.info.get("icc_profile")
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except Exception:  # a broken profile: fall back to the plain conversion below
            pass
    return im.convert("RGB")


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert a loaded image of any mode to 8-bit RGB (alpha over white, high bit depth scaled)."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in _SIXTEEN_BIT or mode in ("I", "F"):
        return Image.fromarray(_scale_to_uint8(np.asarray(im), mode), "L").convert("RGB")
    if mode == "CMYK":
        return _cmyk_to_rgb(im)
    if mode in _ALPHA_MODES or (mode in ("P", "L", "RGB", "1") and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _finish(im: Image.Image, label: str, draft_size: int | None) -> Image.Image:
    if draft_size and im.format == "JPEG" and im.mode in ("RGB", "L", "YCbCr"):
        im.draft(im.mode if im.mode == "L" else "RGB", (draft_size, draft_size))
    _load(im, label)
    with contextlib.suppress(Exception):  # malformed EXIF: keep the stored orientation, not lose the image
        im = ImageOps.exif_transpose(im)
    try:
        return to_rgb(im)
    except Exception as exc:
        raise ImageError(f"{label}: unsupported image mode {im.mode!r} ({exc})") from exc


def decode(data: bytes, label: str = "image", *, draft_size: int | None = None) -> Image.Image:
    """Decode image bytes to an upright 8-bit RGB ``PIL.Image``.

    ``draft_size`` lets JPEGs decode at a reduced DCT scale that is still at least ``draft_size`` on each side
    (much faster for big photos). Raises :class:`ImageError` naming ``label`` on any failure.
    """
    return _finish(_open(data, label), label, draft_size)


def check_bytes(data: bytes, label: str = "image") -> tuple[int, int]:
    """Decode ``data`` once, all the way to RGB, to prove it is usable; return its upright ``(width, height)``.

    JPEGs are decoded at 1/8 DCT scale: every byte of the entropy-coded stream is still read (so truncation and
    corruption are detected) at a fraction of the cost. The size returned is the full-resolution upright size.
    """
    im = _open(data, label)
    width, height = im.size
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1
    _finish(im, label, draft_size=1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def read_file(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read file ({exc.strerror or exc})") from exc


def load_rgb(path: Path, size: int | None = None) -> np.ndarray:
    """The image at ``path`` as a uint8 ``H x W x 3`` array; ``size x size`` (bilinear) when ``size`` is given."""
    return rgb_from_bytes(read_file(path), size, str(path))


def rgb_from_bytes(data: bytes, size: int | None = None, label: str = "image") -> np.ndarray:
    """``load_rgb`` for bytes already in memory (an upload): the same decoding and resize, so an uploaded copy of
    a dataset image gives exactly the pixels the precompute stage saw."""
    arr = np.asarray(decode(data, label), dtype=np.uint8)
    return resize_bilinear(arr, size) if size is not None else arr.copy()


def _as_rgb_image(image: np.ndarray | Image.Image) -> Image.Image:
    """A fresh RGB image without metadata (so encoders never embed EXIF/ICC and bytes depend on pixels only)."""
    if isinstance(image, Image.Image):
        image = np.asarray(to_rgb(image))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 HxWx3 array, got {arr.dtype} {arr.shape}")
    return Image.fromarray(np.ascontiguousarray(arr), "RGB")


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Size that fits in ``max_side`` keeping the aspect ratio; images are never upscaled."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode_webp(image: np.ndarray | Image.Image, max_side: int, quality: int = 80) -> bytes:
    """WebP bytes of ``image`` shrunk (Lanczos) to fit ``max_side``. Deterministic for a given Pillow/libwebp."""
    im = _as_rgb_image(image)
    target = fit_size(im.width, im.height, max_side)
    if target != im.size:
        im = im.resize(target, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "WEBP", quality=quality, method=4)
    return buf.getvalue()


def save_webp(image: np.ndarray | Image.Image, path: Path, max_side: int, quality: int = 80) -> None:
    """Write a WebP thumbnail atomically (``precompute.atomic.write_bytes``). Small images are not upscaled."""
    write_bytes(Path(path), encode_webp(image, max_side, quality))
