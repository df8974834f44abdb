"""What a device is built for: `CoreParams` (the array) and `TopParams` (the whole device).

Both sides read these: the gateware is generated from them, and the host checks a
layer against them (`CoreParams.check_spec`) before sending it, the same check for a
real device and for the ``ref`` backend that imitates one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sw.kernel import check_depth, levels
from sw.kernel.spec import (
    ACC_BITS_RANGE,
    ACT_BITS_RANGE,
    CODEBOOK_ENTRY_BITS,
    OUT_BITS_RANGE,
    REQUANT_MULTIPLIER_BITS,
    REQUANT_SHIFT_RANGE,
    SPX_MAX_EXP_LIMIT,
    SPX_TERMS_RANGE,
    WEIGHT_BITS_RANGE,
    WEIGHT_MODES,
    LayerSpec,
)

MAX_ARRAY_DIM = 32
MAX_LAYER_BANKS = 8  # resident layers a device can keep (a RUN_NETWORK chains up to these)
# K, N and M travel as 16-bit fields; the device keeps them well below that.
PROTOCOL_LIMIT = 4096


def _check(name: str, value: int, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name}={value!r} is out of range; allowed range is [{lo}, {hi}]")


@dataclass(frozen=True)
class CoreParams:
    """What a `MatmulCore` is built for: array shape, maximum widths, supported modes.

    A core runs any `LayerSpec` whose widths fit inside these (narrower activations
    are sign-extended, narrower codes re-encoded by the driver) and whose mode it has.
    """

    rows: int = 4  # R: activation rows per tile
    cols: int = 4  # C: output channels per tile
    act_bits: int = 8
    weight_bits: int = 4
    acc_bits: int = 32
    weight_modes: tuple[str, ...] = WEIGHT_MODES
    spx_terms: int = 2
    max_shift: int = SPX_MAX_EXP_LIMIT  # largest SPx exponent the shifters handle
    channels: int = 256  # depth of the per-channel requantization table (largest N)
    # SPx codes are decoded through a table loaded with each layer (any SPx layout up
    # to these widths), or, when False, by wiring for one layout: weight_bits-wide
    # codes with spx_terms terms and exponents up to max_shift (smaller on small FPGAs).
    spx_programmable: bool = True
    # Drain lanes, each with its own requantizer: a finished tile leaves the array in
    # about R*C / drain_lanes cycles instead of R*C, so the drain keeps up with shallow
    # tiles (K < R*C) on a large array. Must divide C: lane l takes columns l, l+L, ...
    # of each row, so a results beat is L neighbouring values of one row.
    drain_lanes: int = 1
    # Banks of the decode and requantization tables (and, in the top, of the weight
    # buffer): one layer each. The core reads one while another is loaded; a device
    # keeps its last `layer_banks` layers and can chain them (RUN_NETWORK). A power of 2.
    layer_banks: int = 2

    def __post_init__(self) -> None:
        _check("rows", self.rows, 1, MAX_ARRAY_DIM)
        _check("cols", self.cols, 1, MAX_ARRAY_DIM)
        _check("act_bits", self.act_bits, *ACT_BITS_RANGE)
        _check("weight_bits", self.weight_bits, *WEIGHT_BITS_RANGE)
        _check("acc_bits", self.acc_bits, *ACC_BITS_RANGE)
        _check("spx_terms", self.spx_terms, *SPX_TERMS_RANGE)
        _check("max_shift", self.max_shift, 0, SPX_MAX_EXP_LIMIT)
        _check("channels", self.channels, 1, 1 << 16)
        _check("drain_lanes", self.drain_lanes, 1, self.cols)
        _check("layer_banks", self.layer_banks, 2, MAX_LAYER_BANKS)
        if self.layer_banks & (self.layer_banks - 1):
            raise ValueError(f"layer_banks={self.layer_banks} must be a power of 2")
        if self.cols % self.drain_lanes:
            raise ValueError(
                f"drain_lanes={self.drain_lanes} must divide cols={self.cols} (a results "
                "beat is that many neighbouring values of one row)"
            )
        modes = tuple(self.weight_modes)
        if not modes or any(mode not in WEIGHT_MODES for mode in modes):
            raise ValueError(f"weight_modes={modes!r} must be a non-empty subset of {WEIGHT_MODES}")
        object.__setattr__(self, "weight_modes", tuple(m for m in WEIGHT_MODES if m in modes))
        if self.has_shift_add and not self.spx_programmable:
            self.fixed_spx_spec  # noqa: B018 - raises ValueError if the layout is impossible

    @property
    def fixed_spx_spec(self) -> LayerSpec:
        """The one SPx layout a core without the SPx table decodes."""
        return LayerSpec(
            weight_bits=self.weight_bits,
            weight_mode="spx",
            spx_terms=self.spx_terms,
            spx_max_exp=self.max_shift,
        )

    @property
    def has_multiplier(self) -> bool:
        """uniform and codebook share a multiplier per PE."""
        return "uniform" in self.weight_modes or "codebook" in self.weight_modes

    @property
    def has_shift_add(self) -> bool:
        """spx uses shifts and adds only (no multiplier)."""
        return "spx" in self.weight_modes

    @property
    def shift_bits(self) -> int:
        return max(1, self.max_shift.bit_length())

    @property
    def codebook_bits(self) -> int:
        return CODEBOOK_ENTRY_BITS

    @property
    def decoded_weight_bits(self) -> int:
        """Width of a weight decoded for the multiplier (uniform code or codebook entry)."""
        bits = 0
        if "uniform" in self.weight_modes:
            bits = self.weight_bits
        if "codebook" in self.weight_modes:
            bits = max(bits, CODEBOOK_ENTRY_BITS)
        return bits

    @property
    def multiplier_bits(self) -> int:
        return REQUANT_MULTIPLIER_BITS

    @property
    def requant_shift_bits(self) -> int:
        return REQUANT_SHIFT_RANGE[1].bit_length()

    @property
    def out_bits_max(self) -> int:
        return OUT_BITS_RANGE[1]

    def check_spec(self, spec: LayerSpec, n: int | None = None, k: int | None = None) -> None:
        """Raise ``ValueError`` naming the first thing in a K x N layer of ``spec`` this core
        cannot run.

        A spec with a wider accumulator than the core's runs when its depth ``k`` could
        never leave the core's (the kernel's own overflow check, at the core's width):
        its results are then the same. Without ``k`` it must fit outright."""
        self.check_weights(spec)
        if spec.acc_bits > self.acc_bits:
            self._check_narrower_accumulator(spec, k)
        if n is not None and spec.requant is not None and n > self.channels:
            raise ValueError(
                f"N={n} output channels exceed this core's requantization table of "
                f"{self.channels} channels"
            )

    def check_weights(self, spec: LayerSpec) -> None:
        """The part of `check_spec` about modes and widths: whether the core decodes these codes."""
        if spec.weight_mode not in self.weight_modes:
            raise ValueError(
                f"weight_mode={spec.weight_mode!r} is not built into this core "
                f"(it has {self.weight_modes})"
            )
        for name in ("act_bits", "weight_bits"):
            if getattr(spec, name) > getattr(self, name):
                raise ValueError(
                    f"{name}={getattr(spec, name)} exceeds this core's {name}={getattr(self, name)}"
                )
        if spec.weight_mode == "spx" and not self.spx_programmable:
            fixed = self.fixed_spx_spec
            missing = sorted(set(levels(spec).tolist()) - set(levels(fixed).tolist()))
            if missing:
                raise ValueError(
                    f"this core decodes SPx only as {fixed.weight_bits}-bit codes with "
                    f"{fixed.spx_terms} terms and exponents up to {fixed.spx_max_exp}; "
                    f"the layer's levels {missing} are not among them"
                )
        elif spec.weight_mode == "spx":
            if spec.spx_terms > self.spx_terms:
                raise ValueError(
                    f"spx_terms={spec.spx_terms} exceeds this core's spx_terms={self.spx_terms}"
                )
            if spec.spx_max_exp > self.max_shift:
                raise ValueError(
                    f"spx_max_exp={spec.spx_max_exp} exceeds this core's max_shift={self.max_shift}"
                )

    def _check_narrower_accumulator(self, spec: LayerSpec, k: int | None) -> None:
        reason = f"acc_bits={spec.acc_bits} exceeds this core's acc_bits={self.acc_bits}"
        if k is None:
            raise ValueError(reason)
        try:
            check_depth(k, replace(spec, acc_bits=self.acc_bits))
        except ValueError as error:  # a bias beyond the core's width, or too deep
            raise ValueError(f"{reason} and this layer could overflow it: {error}") from None


FAMILIES = ("ice40", "ecp5", "gowin")


@dataclass(frozen=True)
class TopParams:
    """The whole device: its core, its buffers, its clock and the FPGA it is built for."""

    core: CoreParams
    k_max: int = 256  # deepest layer (weight buffer rows per column tile)
    m_max: int = 64  # activation rows per RUN (activation buffer)
    clock_hz: int = 12_000_000  # reported by IDENTIFY
    timeout_cycles: int = 1 << 22  # a frame that stops arriving part way is dropped
    # The FPGA family whose primitives the gateware instantiates (ECP5 multipliers are
    # MULT18X18D instances); None for the generic design. Simulation follows it too.
    family: str | None = None
    # RUN_NETWORK (two resident layers chained on chip): a result write-back path and a
    # second activation region. Off where it does not fit (the iCEBreaker's SP2 design).
    networks: bool = True

    def __post_init__(self):
        for name in ("k_max", "m_max"):
            _check(name, getattr(self, name), 1, PROTOCOL_LIMIT)
        _check("channels", self.core.channels, 1, PROTOCOL_LIMIT)
        _check("timeout_cycles", self.timeout_cycles, 16, (1 << 32) - 1)
        _check("clock_hz", self.clock_hz, 1, (1 << 32) - 1)
        if self.family is not None and self.family not in FAMILIES:
            raise ValueError(f"family={self.family!r} must be None or one of {FAMILIES}")
