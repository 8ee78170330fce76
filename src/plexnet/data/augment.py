"""Image augmentation with provenance: each new record names its parent and the exact transform.

:func:`augment` makes new records from the records of an image dataset by rotating,
zooming/cropping, changing brightness and contrast, and flipping them. Each child
keeps its parent's label and carries ``Provenance(tag="augmented", parent=<the
parent's leaf hash>, transform=<name>, params=<the exact parameters drawn>)``, so
anyone holding the parent can recompute the child with :func:`apply` and check it
(:func:`verify_augmented`): an augmented record is a claim that can be verified,
not just trusted. A child is made by one transform; a chain is a child of a child,
each link with its own provenance and each verifiable on its own.

The transforms (frozen dataclasses holding the *ranges* parameters are drawn from):

* :class:`Rotate` — ``degrees`` uniform in ±``max_degrees``, counter-clockwise
  about the image centre (90 is ``np.rot90``);
* :class:`Zoom` — ``scale`` uniform in [``min_scale``, ``max_scale``] and a crop
  window ``H/scale`` x ``W/scale`` whose top-left corner (``top``, ``left``, input
  pixels) is uniform over the positions that keep it inside the image (outside it,
  for ``scale < 1``, which zooms out and pads);
* :class:`BrightnessContrast` — ``contrast`` uniform in 1 ± ``max_contrast`` about
  the image mean, then ``shift`` uniform in ±``max_brightness`` of the value range;
* :class:`Flip` — ``horizontal`` and/or ``vertical`` (at least one).

Resampling is bilinear (spline order 1): higher orders ring past the value range
on small, sharp images such as the 8x8 digits and would then be clipped anyway.
A pixel whose source lies within the image's pixel area (``[-0.5, n - 0.5]``)
takes the nearest edge value there; one whose source lies outside takes ``fill``
(the low end of the value range: the background of digits and of most scans).

Outputs are clipped to the schema's ``value_range``. A :class:`Schema` has no
integer type, so integrality is read from the parent: a parent whose values are
all integers (digits are 0..16) has children rounded to integers (and clipped to
the integers inside the range), so augmented digits look like digits and keep
their compact leaf JSON. Drawn parameters are rounded to 4 decimals, so the
provenance reads well and survives any JSON round trip unchanged. The draws for a
parent come from ``default_rng([seed, <its leaf hash>])``: a child depends on the
seed and its parent only, not on which other records were augmented with it.
A child equal to its parent or to an earlier sibling (a flip of a symmetric image,
a brightness shift that rounds away) is left out: the ``exact_duplicates`` gate
would reject it anyway.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from plexnet.data.errors import DataError, SchemaError
from plexnet.data.records import Provenance, Records
from plexnet.data.schema import Schema, validate

__all__ = ["TRANSFORMS", "BrightnessContrast", "Flip", "Rotate", "Transform", "Zoom", "apply",
           "augment", "verify_augmented"]

_DECIMALS = 4  # drawn parameters are rounded to this many decimals (see the docstring)


def _draw(rng: np.random.Generator, low: float, high: float) -> float:
    return round(float(rng.uniform(low, high)), _DECIMALS) if high > low else round(low, _DECIMALS)


@dataclass(frozen=True)
class Transform(ABC):
    """Base class of augmentations: ranges to draw parameters from.

    To add one, subclass with a ``name``, validate the ranges in ``__post_init__``
    (raise :class:`DataError`), implement :meth:`sample`, and add the function that
    applies drawn parameters (and the parameter names it takes) to :data:`TRANSFORMS`.
    """

    name: ClassVar[str]

    @abstractmethod
    def sample(self, rng: np.random.Generator, image: np.ndarray, fill: float,
               span: float) -> dict[str, Any]:
        """Parameters for one child of ``image`` ((H, W) or (H, W, C)); ``fill`` is the
        background value and ``span`` the width of the value range."""


@dataclass(frozen=True)
class Rotate(Transform):
    """Rotate by ``degrees`` uniform in ±``max_degrees`` (0 < max_degrees <= 180)."""

    name: ClassVar[str] = "rotate"
    max_degrees: float = 15.0

    def __post_init__(self) -> None:
        if not 0 < self.max_degrees <= 180:
            raise DataError(f"Rotate: max_degrees must be in (0, 180], got {self.max_degrees}")

    def sample(self, rng: np.random.Generator, image: np.ndarray, fill: float,
               span: float) -> dict[str, Any]:
        return {"degrees": _draw(rng, -self.max_degrees, self.max_degrees), "fill": fill}


@dataclass(frozen=True)
class Zoom(Transform):
    """Zoom by ``scale`` uniform in [min_scale, max_scale] and crop (see the module docstring).

    ``scale > 1`` crops a window of ``1/scale`` of each side and enlarges it;
    ``scale < 1`` shrinks the image and pads it with the background.
    """

    name: ClassVar[str] = "zoom"
    min_scale: float = 0.9
    max_scale: float = 1.1

    def __post_init__(self) -> None:
        if not 0.25 <= self.min_scale <= self.max_scale <= 4.0:
            raise DataError("Zoom: need 0.25 <= min_scale <= max_scale <= 4, got "
                            f"{self.min_scale}, {self.max_scale}")

    def sample(self, rng: np.random.Generator, image: np.ndarray, fill: float,
               span: float) -> dict[str, Any]:
        scale = _draw(rng, self.min_scale, self.max_scale)
        h, w = image.shape[:2]
        slack_h, slack_w = h - h / scale, w - w / scale  # negative when zooming out
        return {"scale": scale, "top": _draw(rng, min(0.0, slack_h), max(0.0, slack_h)),
                "left": _draw(rng, min(0.0, slack_w), max(0.0, slack_w)), "fill": fill}


@dataclass(frozen=True)
class BrightnessContrast(Transform):
    """Contrast 1 ± ``max_contrast`` about the mean, then a shift of ± ``max_brightness``
    of the value range (each in [0, 1], not both 0)."""

    name: ClassVar[str] = "brightness_contrast"
    max_brightness: float = 0.1
    max_contrast: float = 0.1

    def __post_init__(self) -> None:
        if not (0 <= self.max_brightness <= 1 and 0 <= self.max_contrast <= 1) or (
                self.max_brightness == self.max_contrast == 0):
            raise DataError("BrightnessContrast: max_brightness and max_contrast must be in "
                            f"[0, 1] and not both 0, got {self.max_brightness}, "
                            f"{self.max_contrast}")

    def sample(self, rng: np.random.Generator, image: np.ndarray, fill: float,
               span: float) -> dict[str, Any]:
        contrast = _draw(rng, 1 - self.max_contrast, 1 + self.max_contrast)
        return {"contrast": contrast,
                "shift": _draw(rng, -self.max_brightness * span, self.max_brightness * span)}


@dataclass(frozen=True)
class Flip(Transform):
    """Mirror left-right (``horizontal``) and/or top-bottom (``vertical``). With both
    allowed, each child is one of the three non-empty combinations, equally likely.
    Mind the labels: a mirrored 2 is not a 2 in every script."""

    name: ClassVar[str] = "flip"
    horizontal: bool = True
    vertical: bool = False

    def __post_init__(self) -> None:
        if not (self.horizontal or self.vertical):
            raise DataError("Flip: allow horizontal or vertical flips (or both)")

    def sample(self, rng: np.random.Generator, image: np.ndarray, fill: float,
               span: float) -> dict[str, Any]:
        options = [(h, v) for h in (False, True) for v in (False, True)
                   if (h or v) and (self.horizontal or not h) and (self.vertical or not v)]
        h, v = options[int(rng.integers(len(options)))]
        return {"horizontal": h, "vertical": v}


# -- applying drawn parameters ---------------------------------------------------------


def _resample(image: np.ndarray, src_r: np.ndarray, src_c: np.ndarray,
              fill: float) -> np.ndarray:
    """Output pixel (r, c) is ``image`` at (src_r[r, c], src_c[r, c]), bilinear; sources
    outside the pixel area [-0.5, n - 0.5] take ``fill``, the rest clamp to the edge."""
    from scipy import ndimage

    h, w = image.shape[:2]
    outside = (src_r < -0.5) | (src_r > h - 0.5) | (src_c < -0.5) | (src_c > w - 0.5)
    planes = image[..., None] if image.ndim == 2 else image  # (H, W, C)
    out = np.stack([ndimage.map_coordinates(planes[..., k], [src_r, src_c], order=1,
                                            mode="nearest") for k in range(planes.shape[2])],
                   axis=-1)
    out[outside] = fill
    return out[..., 0] if image.ndim == 2 else out


def _grid(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    return np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                       indexing="ij")


def _rotate(image: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    theta = math.radians(float(p["degrees"]))
    cos, sin = math.cos(theta), math.sin(theta)
    rows, cols = _grid(image)
    cy, cx = (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    y, x = rows - cy, cols - cx
    # Inverse map: the output pixel at (y, x) from the centre comes from the input
    # rotated back by theta (rows point down, so this turns the picture counter-clockwise).
    return _resample(image, cos * y + sin * x + cy, -sin * y + cos * x + cx, float(p["fill"]))


def _zoom(image: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    scale = float(p["scale"])
    rows, cols = _grid(image)
    # Pixel centres: output pixel r covers input [top + r/scale, top + (r+1)/scale).
    return _resample(image, float(p["top"]) + (rows + 0.5) / scale - 0.5,
                     float(p["left"]) + (cols + 0.5) / scale - 0.5, float(p["fill"]))


def _brightness_contrast(image: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    mean = float(image.mean())
    return np.asarray((image - mean) * float(p["contrast"]) + mean + float(p["shift"]))


def _flip(image: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    out = image[:, ::-1] if p["horizontal"] else image
    return out[::-1] if p["vertical"] else out


_Apply = Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]

TRANSFORMS: dict[str, tuple[_Apply, dict[str, type]]] = {
    "rotate": (_rotate, {"degrees": float, "fill": float}),
    "zoom": (_zoom, {"scale": float, "top": float, "left": float, "fill": float}),
    "brightness_contrast": (_brightness_contrast, {"contrast": float, "shift": float}),
    "flip": (_flip, {"horizontal": bool, "vertical": bool}),
}
"""Transform name -> (the function applying drawn parameters, the parameters and their types)."""


def _check_params(name: str, params: Mapping[str, Any]) -> _Apply:
    if name not in TRANSFORMS:
        raise DataError(f"unknown transform {name!r}; known: {', '.join(sorted(TRANSFORMS))}")
    fn, spec = TRANSFORMS[name]
    if set(params) != set(spec):
        raise DataError(f"{name} takes parameters {sorted(spec)}, got {sorted(params)}")
    for key, kind in spec.items():
        value = params[key]
        if kind is bool:
            if not isinstance(value, bool):
                raise DataError(f"{name}: {key} must be true or false, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value):
            raise DataError(f"{name}: {key} must be a finite number, got {value!r}")
    if name == "zoom" and not 0.25 <= params["scale"] <= 4.0:
        raise DataError(f"zoom: scale must be in [0.25, 4], got {params['scale']}")
    if name == "brightness_contrast" and params["contrast"] < 0:
        raise DataError(f"brightness_contrast: contrast must be >= 0, got {params['contrast']}")
    if name == "flip" and not (params["horizontal"] or params["vertical"]):
        raise DataError("flip: flip horizontally, vertically or both")
    return fn


def apply(name: str, params: Mapping[str, Any], image: np.ndarray, *,
          value_range: tuple[float, float] | None = None, integral: bool = False) -> np.ndarray:
    """Transform ``image`` ((H, W) or (H, W, C)) by ``name`` with ``params`` exactly as
    :func:`augment` did: then clip to ``value_range`` and, if ``integral``, round.

    Raises:
        DataError: for an unknown transform or parameters it does not take.
        SchemaError: if ``image`` is not 2-D or 3-D.
    """
    fn = _check_params(name, params)
    image = np.asarray(image, dtype=np.float64)
    if image.ndim not in (2, 3):
        raise SchemaError(f"an image is (H, W) or (H, W, C), got shape {image.shape}")
    out = np.asarray(fn(image, params), dtype=np.float64)
    if integral:
        out = np.round(out)
    if value_range is not None:
        low, high = value_range
        if integral:
            low, high = math.ceil(low), math.floor(high)
        out = np.clip(out, low, high)
    return out


# -- records ---------------------------------------------------------------------------


def _images(records: Records, schema: Schema) -> np.ndarray:
    """The records' images, (n, *shape), after checking them against an image schema."""
    if schema.kind != "image":
        raise SchemaError(f"augmentation needs an image schema, not a {schema.kind} one")
    validate(schema, records)
    assert records.x is not None  # validate() checked an image dataset's features
    return records.x.reshape(len(records), *schema.shape)


def _integral(image: np.ndarray) -> bool:
    return bool(np.all(image == np.round(image)))


def augment(records: Records, schema: Schema, transforms: Sequence[Transform], *,
            per_record: int = 1, seed: int = 0, contributor: str | None = None) -> Records:
    """New records made from ``records``: ``per_record`` children of each record by
    each transform (parent by parent, then transform by transform), less children
    equal to their parent or an earlier sibling. Deterministic for ``seed``.

    Args:
        records: the parents, as stored (their leaf hashes become the children's
            ``parent``, so they must carry their real contributor and provenance).
        contributor: the DID of whoever augments (``contribute`` signs it in anyway);
            ``""`` when ``None``.

    Raises:
        SchemaError: if ``schema`` is not an image schema or ``records`` break it.
        DataError: for no transforms, a bad ``per_record`` or ``seed``.
    """
    if not transforms or not all(isinstance(t, Transform) for t in transforms):
        raise DataError("augment needs at least one Transform (Rotate, Zoom, ...)")
    if isinstance(per_record, bool) or not isinstance(per_record, int) or per_record < 1:
        raise DataError(f"per_record must be a positive integer, got {per_record!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    images = _images(records, schema)
    leaves = records.leaf_hashes()
    xs: list[np.ndarray] = []
    ys: list[int] = []
    provs: list[Provenance] = []
    for image, leaf, label in zip(images, leaves, records.y.tolist(), strict=True):
        integral = _integral(image)
        if schema.value_range is not None:
            fill, span = float(schema.value_range[0]), float(np.ptp(schema.value_range))
        else:
            fill, span = float(image.min()), float(np.ptp(image)) or 1.0
        words = np.frombuffer(leaf[:16], dtype="<u4").tolist()
        rng = np.random.default_rng([seed, *words])
        seen = [image]
        for transform in transforms:
            for _ in range(per_record):
                params = transform.sample(rng, image, fill, span)
                child = apply(transform.name, params, image, value_range=schema.value_range,
                              integral=integral)
                if any(np.array_equal(child, other) for other in seen):
                    continue
                seen.append(child)
                xs.append(child.reshape(-1))
                ys.append(label)
                provs.append(Provenance(tag="augmented", parent=leaf.hex(),
                                        transform=transform.name, params=params))
    if not xs:  # Records.make cannot infer the width of no rows
        return Records(y=np.empty(0, dtype=np.int64), x=np.empty((0, schema.features)))
    return Records.make(np.asarray(ys, dtype=np.int64), x=np.stack(xs),
                        contributor=contributor or "", provenance=provs)


def verify_augmented(children: Records, parents: Records, schema: Schema, *,
                     atol: float = 0.0) -> np.ndarray:
    """Whether each child is what its provenance says: an ``augmented`` record whose
    parent is among ``parents`` (by leaf hash), with the parent's label, and whose
    features :func:`apply` recomputes from the parent to within ``atol`` (exact by
    default: the same code on the same platform gives the same bits).

    Returns:
        ``(len(children),)`` bool array; a child with unknown or malformed parameters
        is ``False``, not an error (children are the untrusted side).

    Raises:
        SchemaError: if ``schema`` is not an image schema or the records break it.
    """
    images = _images(parents, schema)
    if len(children):
        validate(schema, children)
    by_leaf = {leaf.hex(): i for i, leaf in enumerate(parents.leaf_hashes())}
    ok = np.zeros(len(children), dtype=bool)
    for k, prov in enumerate(children.provenance):
        i = by_leaf.get(prov.parent or "")
        if prov.tag != "augmented" or i is None or children.y[k] != parents.y[i]:
            continue
        parent = images[i]
        try:
            want = apply(prov.transform or "", prov.params, parent,
                         value_range=schema.value_range, integral=_integral(parent))
        except DataError:
            continue
        assert children.x is not None  # validate() checked the children's features
        got = children.x[k].reshape(parent.shape)
        ok[k] = bool(np.allclose(got, want, rtol=0.0, atol=atol)) if atol else bool(
            np.array_equal(got, want))
    return ok
