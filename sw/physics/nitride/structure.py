"""Layer stacks, donor profiles and impurity blocking layers (IBLs).

Geometry convention: ``depth`` is measured in nm from the free surface (depth 0) into
the crystal. Layers are listed surface first; the bottom of the last layer is the
*nucleation interface*, where Si and O donors come from. The floating-up tail is
described by the *height* above that interface, h = total thickness - depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .materials import load_parameter_set

MAX_THICKNESS_NM = 100_000.0
DEFAULT_IBL_HEIGHT_NM = 50.0
MAX_DENSITY_CM3 = 1e22  # about a quarter of the cation density of AlN: anything above is a typo
MAX_SHEET_DENSITY_CM2 = 1e15


def _assumption(key: str) -> float:
    """A model assumption from the data file (same in every parameter set)."""
    return float(load_parameter_set().assumptions[key])


def _check_range(name: str, value: float, low: float, high: float, *, low_open=False) -> float:
    """Return ``value`` as float or raise a ValueError that names the parameter and range."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in {_range_text(low, high, low_open)}") from None
    too_low = value <= low if low_open else value < low
    if not math.isfinite(value) or too_low or value > high:
        raise ValueError(f"{name} must be in {_range_text(low, high, low_open)}, got {value:g}")
    return value


def _range_text(low: float, high: float, low_open: bool) -> str:
    return f"{'(' if low_open else '['}{low:g}, {high:g}]"


@dataclass(frozen=True)
class Layer:
    """One epitaxial layer: a material name from the parameter set and its thickness (nm)."""

    material: str
    thickness_nm: float

    def __post_init__(self):
        object.__setattr__(
            self,
            "thickness_nm",
            _check_range(
                f"{self.material} layer thickness_nm",
                self.thickness_nm,
                0.0,
                MAX_THICKNESS_NM,
                low_open=True,
            ),
        )


@dataclass(frozen=True)
class DonorTail:
    """Donors floating up from the nucleation interface: N(h) = N0 exp(-h / decay_length).

    ``density_cm3`` is N0, the density at the nucleation interface (cm^-3); h is the
    height above that interface (nm). Blocking layers in the stack cut this tail.
    """

    density_cm3: float
    decay_length_nm: float

    def __post_init__(self):
        object.__setattr__(
            self,
            "density_cm3",
            _check_range("donor tail density_cm3", self.density_cm3, 0.0, MAX_DENSITY_CM3),
        )
        object.__setattr__(
            self,
            "decay_length_nm",
            _check_range(
                "donor tail decay_length_nm",
                self.decay_length_nm,
                0.0,
                MAX_THICKNESS_NM,
                low_open=True,
            ),
        )

    def density_at_height_cm3(self, height_nm: np.ndarray) -> np.ndarray:
        return self.density_cm3 * np.exp(-np.maximum(height_nm, 0.0) / self.decay_length_nm)


@dataclass(frozen=True)
class UniformDonors:
    """A uniform donor density (cm^-3) between two depths (nm); default: the whole stack."""

    density_cm3: float
    top_depth_nm: float = 0.0
    bottom_depth_nm: float = math.inf

    def __post_init__(self):
        object.__setattr__(
            self,
            "density_cm3",
            _check_range("uniform donor density_cm3", self.density_cm3, 0.0, MAX_DENSITY_CM3),
        )
        top = _check_range("uniform donor top_depth_nm", self.top_depth_nm, 0.0, MAX_THICKNESS_NM)
        bottom = float(self.bottom_depth_nm)
        if not bottom > top:
            raise ValueError(
                f"uniform donor bottom_depth_nm must be greater than top_depth_nm={top:g}, "
                f"got {bottom:g}"
            )
        object.__setattr__(self, "top_depth_nm", top)
        object.__setattr__(self, "bottom_depth_nm", bottom)

    def density_at_depth_cm3(self, depth_nm: np.ndarray) -> np.ndarray:
        inside = (depth_nm >= self.top_depth_nm) & (depth_nm <= self.bottom_depth_nm)
        return np.where(inside, self.density_cm3, 0.0)


@dataclass(frozen=True)
class DonorSheet:
    """A thin donor slab (delta doping) holding ``sheet_density_cm2`` around ``depth_nm``.

    Spread uniformly over ``width_nm`` (default 1 nm) so that the mesh resolves it.
    """

    sheet_density_cm2: float
    depth_nm: float
    width_nm: float = 1.0

    def __post_init__(self):
        object.__setattr__(
            self,
            "sheet_density_cm2",
            _check_range(
                "donor sheet_density_cm2", self.sheet_density_cm2, 0.0, MAX_SHEET_DENSITY_CM2
            ),
        )
        object.__setattr__(
            self,
            "depth_nm",
            _check_range("donor sheet depth_nm", self.depth_nm, 0.0, MAX_THICKNESS_NM),
        )
        object.__setattr__(
            self,
            "width_nm",
            _check_range("donor sheet width_nm", self.width_nm, 0.0, 1000.0, low_open=True),
        )

    @property
    def top_depth_nm(self) -> float:
        return self.depth_nm - 0.5 * self.width_nm

    @property
    def bottom_depth_nm(self) -> float:
        return self.depth_nm + 0.5 * self.width_nm

    def density_at_depth_cm3(self, depth_nm: np.ndarray) -> np.ndarray:
        volume_density_cm3 = self.sheet_density_cm2 / (self.width_nm * 1e-7)
        inside = (depth_nm >= self.top_depth_nm) & (depth_nm <= self.bottom_depth_nm)
        return np.where(inside, volume_density_cm3, 0.0)


@dataclass(frozen=True)
class BlockingLayer:
    """An impurity blocking layer inside the buffer.

    It sits ``height_nm`` above the nucleation interface (its bottom edge) and is
    ``thickness_nm`` thick. Only a fraction ``transmission`` of the floating donor tail
    gets past it: the tail is multiplied by ``transmission`` from the IBL's bottom edge
    upward (default: the data file's ``ibl_transmission``). Electrostatically it is the
    buffer material (its own composition and polarization are not modeled).
    """

    thickness_nm: float
    height_nm: float = DEFAULT_IBL_HEIGHT_NM
    transmission: float = field(default_factory=lambda: _assumption("ibl_transmission"))

    def __post_init__(self):
        object.__setattr__(
            self,
            "thickness_nm",
            _check_range(
                "IBL thickness_nm", self.thickness_nm, 0.0, MAX_THICKNESS_NM, low_open=True
            ),
        )
        object.__setattr__(
            self,
            "height_nm",
            _check_range("IBL height_nm", self.height_nm, 0.0, MAX_THICKNESS_NM),
        )
        object.__setattr__(
            self,
            "transmission",
            _check_range("IBL transmission", self.transmission, 0.0, 1.0),
        )


DonorComponent = DonorTail | UniformDonors | DonorSheet


@dataclass(frozen=True)
class Stack:
    """A c-plane metal-polar layer stack, surface first, with its donor profile.

    * ``layers``: at least two; the 2D hole gas forms at the bottom of the first (cap)
      layer. The last layer is the relaxed buffer every other layer is strained to.
    * ``donors``: any mix of :class:`DonorTail`, :class:`UniformDonors`, :class:`DonorSheet`.
    * ``blocking_layers``: IBLs cutting the floating tails (must lie inside the last layer).
    * ``surface_barrier_eV``: E_C - E_F at the free surface (None: the data file's value).
    """

    layers: tuple[Layer, ...]
    donors: tuple[DonorComponent, ...] = ()
    blocking_layers: tuple[BlockingLayer, ...] = ()
    surface_barrier_eV: float | None = None
    name: str = field(default="custom", compare=False)

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "donors", tuple(self.donors))
        object.__setattr__(self, "blocking_layers", tuple(self.blocking_layers))
        if len(self.layers) < 2:
            raise ValueError("a Stack needs at least 2 layers (a cap on a buffer)")
        for item in self.layers:
            if not isinstance(item, Layer):
                raise ValueError(f"layers must be Layer objects, got {item!r}")
        for item in self.donors:
            if not isinstance(item, DonorTail | UniformDonors | DonorSheet):
                raise ValueError(
                    f"donors must be DonorTail, UniformDonors or DonorSheet, got {item!r}"
                )
            if isinstance(item, DonorSheet) and item.bottom_depth_nm > self.total_thickness_nm:
                raise ValueError(
                    f"donor sheet depth_nm must be in [0, {self.total_thickness_nm:g}] "
                    f"(inside the stack), got {item.depth_nm:g}"
                )
        buffer = self.layers[-1].thickness_nm
        for ibl in self.blocking_layers:
            if not isinstance(ibl, BlockingLayer):
                raise ValueError(f"blocking_layers must be BlockingLayer objects, got {ibl!r}")
            if ibl.height_nm + ibl.thickness_nm > buffer:
                raise ValueError(
                    "IBL height_nm + thickness_nm must fit inside the buffer layer, i.e. be in "
                    f"[0, {buffer:g}] nm, got {ibl.height_nm + ibl.thickness_nm:g}"
                )
        if self.surface_barrier_eV is not None:
            object.__setattr__(
                self,
                "surface_barrier_eV",
                _check_range("surface_barrier_eV", self.surface_barrier_eV, 0.0, 6.0),
            )

    @property
    def total_thickness_nm(self) -> float:
        return float(sum(layer.thickness_nm for layer in self.layers))

    @property
    def interface_depths_nm(self) -> list[float]:
        """Depths of the heterointerfaces (not the surface, not the nucleation interface)."""
        return list(np.cumsum([layer.thickness_nm for layer in self.layers])[:-1])

    @property
    def channel_depth_nm(self) -> float:
        """Depth of the cap/buffer interface where the 2D hole gas sits."""
        return self.layers[0].thickness_nm

    def ibl_depths_nm(self) -> list[tuple[float, float]]:
        """(top depth, bottom depth) of each IBL."""
        total = self.total_thickness_nm
        return [
            (total - b.height_nm - b.thickness_nm, total - b.height_nm)
            for b in self.blocking_layers
        ]

    def donor_density_cm3(self, depth_nm: np.ndarray) -> np.ndarray:
        """Total donor density (cm^-3) at the given depths (nm)."""
        depth_nm = np.asarray(depth_nm, dtype=float)
        height_nm = self.total_thickness_nm - depth_nm
        total = np.zeros_like(depth_nm)
        for component in self.donors:
            if isinstance(component, DonorTail):
                tail = component.density_at_height_cm3(height_nm)
                for ibl in self.blocking_layers:
                    tail = np.where(height_nm >= ibl.height_nm, tail * ibl.transmission, tail)
                total += tail
            else:
                total += component.density_at_depth_cm3(depth_nm)
        return total

    def with_donors(self, *donors: DonorComponent) -> Stack:
        return replace(self, donors=tuple(donors))

    def with_blocking_layers(self, *blocking_layers: BlockingLayer) -> Stack:
        return replace(self, blocking_layers=tuple(blocking_layers))

    def with_cap_thickness(self, cap_nm: float) -> Stack:
        cap = Layer(self.layers[0].material, cap_nm)
        return replace(self, layers=(cap, *self.layers[1:]))

    def describe(self) -> str:
        parts = " / ".join(f"{layer.material} {layer.thickness_nm:g} nm" for layer in self.layers)
        lines = [f"{self.name}: {parts} (surface first)"]
        for component in self.donors:
            if isinstance(component, DonorTail):
                lines.append(
                    f"  donor tail: {component.density_cm3:.3g} cm^-3 at the nucleation "
                    f"interface, decay length {component.decay_length_nm:g} nm"
                )
            elif isinstance(component, UniformDonors):
                lines.append(f"  uniform donors: {component.density_cm3:.3g} cm^-3")
            else:
                lines.append(
                    f"  donor sheet: {component.sheet_density_cm2:.3g} cm^-2 at "
                    f"{component.depth_nm:g} nm"
                )
        for ibl in self.blocking_layers:
            lines.append(
                f"  IBL: {ibl.thickness_nm:g} nm at {ibl.height_nm:g} nm above the nucleation "
                f"interface, tail transmission {ibl.transmission:g}"
            )
        return "\n".join(lines)


# Representative MBE 2DHG structure: a thin strained GaN cap on a relaxed AlN buffer.
PRESETS: dict[str, Stack] = {
    "gan-on-aln": Stack(
        layers=(Layer("GaN", 13.0), Layer("AlN", 300.0)),
        name="gan-on-aln",
    ),
    "thick-cap": Stack(
        layers=(Layer("GaN", 40.0), Layer("AlN", 300.0)),
        name="thick-cap",
    ),
}


def preset(name: str) -> Stack:
    """A named stack from :data:`PRESETS` (undoped, no IBL)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown preset {name!r}; allowed: {', '.join(sorted(PRESETS))}"
        ) from None
