"""Layer stacks, floating donors and impurity blocking layers (IBLs).

Geometry convention: ``depth`` is measured in nm from the free surface (depth 0) into
the crystal. Layers are listed surface first; the bottom of the last layer is the
*nucleation interface*, where Si and O donors come from. Heights are measured up from it:
h = total thickness - depth.

**Floating donors** (:class:`DonorTail`) follow the surface-segregation picture of MBE
growth: the impurities released at the nucleation interface ride on the growth front as a
floating sheet S(h) (cm^-2) and a fraction of it is buried per nm grown,

    dS/dh = -S / λ(h),   N(h) = S(h) / λ(h)     (N: donors incorporated, cm^-3),

with λ the segregation (decay) length of the layer being grown. In the buffer λ is the
tail's ``decay_length_nm`` and N(h) = N0 exp(-h/λ), S(0) = N0 λ.

**A blocking layer** (:class:`BlockingLayer`) is a layer where incorporation is fast: its
segregation length λ_I = t / ln(1/T) makes only the fraction T (``transmission``; blocking
efficiency 1 - T) of the floating sheet leave the top of an IBL of thickness t. What it
captures is incorporated *inside* it (N = S/λ_I, a spike at the IBL's bottom edge), so the
donors are conserved: an IBL close to the channel holds them where they can still ionize
and compensate the 2D hole gas, one deep in the AlN buffer holds them where they cannot.
``trapped_active=False`` models an IBL that binds them electrically inactive instead. The
sheet left on the growth front when growth stops ends at the free surface, whose states
(the pinned Fermi level) absorb its charge: it is not part of the profile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..common import check_range
from .model import load_parameter_set

MAX_THICKNESS_NM = 100_000.0
DEFAULT_IBL_HEIGHT_NM = 50.0
MAX_DENSITY_CM3 = 1e22  # about a quarter of the cation density of AlN: anything above is a typo
MAX_SHEET_DENSITY_CM2 = 1e15
PERFECT_BLOCKING_DECADES = 40.0  # T = 0 is modeled as T = exp(-40) (λ_I = t/40)


def _assumption(key: str) -> float:
    """A model assumption from the data file (same in every parameter set)."""
    return float(load_parameter_set().assumptions[key])


def _checked(instance, name: str, label: str, low, high, *, low_open=False) -> None:
    """Validate and store a float field of a frozen dataclass."""
    value = check_range(label, getattr(instance, name), low, high, low_open=low_open)
    object.__setattr__(instance, name, value)


@dataclass(frozen=True)
class Layer:
    """One epitaxial layer: a material name from the parameter set and its thickness (nm)."""

    material: str
    thickness_nm: float

    def __post_init__(self):
        _checked(
            self,
            "thickness_nm",
            f"{self.material} layer thickness_nm",
            0.0,
            MAX_THICKNESS_NM,
            low_open=True,
        )


@dataclass(frozen=True)
class BlockingLayer:
    """An impurity blocking layer inside the buffer (see the module docstring).

    Its bottom edge sits ``height_nm`` above the nucleation interface; it is
    ``thickness_nm`` thick; ``transmission`` T is the fraction of the floating donor sheet
    that leaves its top (default: the data file's ``ibl_transmission``); donors it captures
    stay active unless ``trapped_active`` is False. Electrostatically it is the buffer
    material (its own composition and polarization are not modeled).
    """

    thickness_nm: float
    height_nm: float = DEFAULT_IBL_HEIGHT_NM
    transmission: float = field(default_factory=lambda: _assumption("ibl_transmission"))
    trapped_active: bool = field(default_factory=lambda: bool(_assumption("trapped_donors_active")))

    def __post_init__(self):
        _checked(self, "thickness_nm", "IBL thickness_nm", 0.0, MAX_THICKNESS_NM, low_open=True)
        _checked(self, "height_nm", "IBL height_nm", 0.0, MAX_THICKNESS_NM)
        _checked(self, "transmission", "IBL transmission", 0.0, 1.0)
        object.__setattr__(self, "trapped_active", bool(self.trapped_active))

    @property
    def efficiency(self) -> float:
        """Blocking efficiency: the fraction of the floating sheet captured (1 - T)."""
        return 1.0 - self.transmission

    @property
    def segregation_length_nm(self) -> float:
        """λ_I = t / ln(1/T) (T = 0 taken as exp(-40)); infinite for T = 1."""
        decades = PERFECT_BLOCKING_DECADES
        if self.transmission > 0.0:
            decades = min(decades, -math.log(self.transmission))
        return math.inf if decades == 0.0 else self.thickness_nm / decades

    @property
    def top_height_nm(self) -> float:
        return self.height_nm + self.thickness_nm


@dataclass(frozen=True)
class DonorTail:
    """Donors floating up from the nucleation interface (segregation, see module doc).

    ``density_cm3`` is N0, the incorporated density at the nucleation interface (cm^-3);
    ``decay_length_nm`` the segregation length λ of the buffer; ``cap_decay_length_nm``
    that of the layers above it (default: the same λ). A shorter one in the cap buries
    the sheet still floating when the cap starts right at the channel interface (a
    pile-up where the 2D hole gas lives). Without IBLs, N(h) = N0 exp(-h/λ) in the buffer.
    """

    density_cm3: float
    decay_length_nm: float
    cap_decay_length_nm: float | None = None

    def __post_init__(self):
        _checked(self, "density_cm3", "donor tail density_cm3", 0.0, MAX_DENSITY_CM3)
        _checked(
            self,
            "decay_length_nm",
            "donor tail decay_length_nm",
            0.0,
            MAX_THICKNESS_NM,
            low_open=True,
        )
        if self.cap_decay_length_nm is not None:
            _checked(
                self,
                "cap_decay_length_nm",
                "donor tail cap_decay_length_nm",
                0.0,
                MAX_THICKNESS_NM,
                low_open=True,
            )

    @property
    def cap_length_nm(self) -> float:
        """The segregation length in the layers above the buffer (default: the buffer's)."""
        return (
            self.decay_length_nm if self.cap_decay_length_nm is None else self.cap_decay_length_nm
        )

    @property
    def released_sheet_cm2(self) -> float:
        """S(0) = N0 λ: the floating sheet that leaves the nucleation interface."""
        return self.density_cm3 * self.decay_length_nm * 1e-7

    def _floating(
        self, height_nm, blocking_layers, cap_height_nm: float = math.inf
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(S(h)/S(0), the local segregation length, whether donors there are active);
        ``cap_height_nm``: where the buffer ends and the cap's segregation length starts."""
        height = np.maximum(np.asarray(height_nm, dtype=float), 0.0)
        decay = self.decay_length_nm
        # ln S(h)/S(0) = -h/λ - Σ_layers (1/λ_layer - 1/λ) × (the part of the layer below h)
        log_fraction = -height / decay
        above = np.maximum(height - cap_height_nm, 0.0)
        log_fraction -= (1.0 / self.cap_length_nm - 1.0 / decay) * above
        local_length = np.where(height >= cap_height_nm, self.cap_length_nm, decay)
        active = np.ones(height.shape, dtype=bool)
        for ibl in blocking_layers:
            inside_length = np.clip(height - ibl.height_nm, 0.0, ibl.thickness_nm)
            log_fraction -= (1.0 / ibl.segregation_length_nm - 1.0 / decay) * inside_length
            inside = (height >= ibl.height_nm) & (height < ibl.top_height_nm)
            local_length = np.where(inside, ibl.segregation_length_nm, local_length)
            if not ibl.trapped_active:
                active &= ~inside
        return np.exp(log_fraction), local_length, active

    def density_at_height_cm3(
        self,
        height_nm: np.ndarray,
        blocking_layers: tuple[BlockingLayer, ...] = (),
        cap_height_nm: float = math.inf,
    ) -> np.ndarray:
        """N(h) = S(h) / λ(h) (cm^-3); donors an IBL captures inactive count as zero."""
        fraction, local_length, active = self._floating(height_nm, blocking_layers, cap_height_nm)
        density = self.density_cm3 * self.decay_length_nm * fraction / local_length
        return np.where(active, density, 0.0)

    def floating_fraction(
        self, height_nm: float, blocking_layers=(), cap_height_nm: float = math.inf
    ) -> float:
        """S(h)/S(0): the part of the released sheet still on the growth front at h."""
        return float(self._floating(np.array([height_nm]), blocking_layers, cap_height_nm)[0][0])


@dataclass(frozen=True)
class UniformDonors:
    """A uniform donor density (cm^-3) between two depths (nm); default: the whole stack."""

    density_cm3: float
    top_depth_nm: float = 0.0
    bottom_depth_nm: float = math.inf

    def __post_init__(self):
        _checked(self, "density_cm3", "uniform donor density_cm3", 0.0, MAX_DENSITY_CM3)
        _checked(self, "top_depth_nm", "uniform donor top_depth_nm", 0.0, MAX_THICKNESS_NM)
        bottom = float(self.bottom_depth_nm)
        if not bottom > self.top_depth_nm:
            raise ValueError(
                "uniform donor bottom_depth_nm must be greater than top_depth_nm="
                f"{self.top_depth_nm:g}, got {bottom:g}"
            )
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
        _checked(self, "sheet_density_cm2", "donor sheet_density_cm2", 0.0, MAX_SHEET_DENSITY_CM2)
        _checked(self, "depth_nm", "donor sheet depth_nm", 0.0, MAX_THICKNESS_NM)
        _checked(self, "width_nm", "donor sheet width_nm", 0.0, 1000.0, low_open=True)

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


DonorComponent = DonorTail | UniformDonors | DonorSheet


@dataclass(frozen=True)
class Stack:
    """A c-plane metal-polar layer stack, surface first, with its donor profile.

    * ``layers``: at least two; the 2D hole gas forms at the bottom of the first (cap)
      layer. The last layer is the relaxed buffer every other layer is strained to.
    * ``donors``: any mix of :class:`DonorTail`, :class:`UniformDonors`, :class:`DonorSheet`.
    * ``blocking_layers``: IBLs capturing the floating tails (inside the last layer).
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
            if ibl.top_height_nm > buffer:
                raise ValueError(
                    "IBL height_nm + thickness_nm must fit inside the buffer layer, i.e. be in "
                    f"[0, {buffer:g}] nm, got {ibl.top_height_nm:g}"
                )
        if self.surface_barrier_eV is not None:
            object.__setattr__(
                self,
                "surface_barrier_eV",
                check_range("surface_barrier_eV", self.surface_barrier_eV, 0.0, 6.0),
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
        return [(total - b.top_height_nm, total - b.height_nm) for b in self.blocking_layers]

    def donor_density_cm3(self, depth_nm: np.ndarray) -> np.ndarray:
        """Total donor density (cm^-3) at the given depths (nm)."""
        depth_nm = np.asarray(depth_nm, dtype=float)
        height_nm = self.total_thickness_nm - depth_nm
        total = np.zeros_like(depth_nm)
        for component in self.donors:
            if isinstance(component, DonorTail):
                total += component.density_at_height_cm3(
                    height_nm, self.blocking_layers, self.layers[-1].thickness_nm
                )
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
                cap = (
                    ""
                    if component.cap_decay_length_nm is None
                    else f" ({component.cap_decay_length_nm:g} nm in the cap)"
                )
                lines.append(
                    f"  donor tail: {component.density_cm3:.3g} cm^-3 at the nucleation "
                    f"interface, decay length {component.decay_length_nm:g} nm{cap}"
                )
            elif isinstance(component, UniformDonors):
                lines.append(f"  uniform donors: {component.density_cm3:.3g} cm^-3")
            else:
                lines.append(
                    f"  donor sheet: {component.sheet_density_cm2:.3g} cm^-2 at "
                    f"{component.depth_nm:g} nm"
                )
        for ibl in self.blocking_layers:
            captured = "kept active" if ibl.trapped_active else "made inactive"
            lines.append(
                f"  IBL: {ibl.thickness_nm:g} nm at {ibl.height_nm:g} nm above the nucleation "
                f"interface, tail transmission {ibl.transmission:g} (captured donors "
                f"{captured})"
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
