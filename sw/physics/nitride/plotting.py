"""Figures: the band diagram of one solution and the p_s-versus-impurity comparison."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

WAVEFUNCTION_HEIGHT_EV = 0.25  # how tall |psi|^2 is drawn on the energy axis


def plot_band_diagram(result, path: str | Path) -> Path:
    """Four panels: whole stack, channel zoom with subbands, donors, holes. Returns path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    z, conduction, valence = result.band_edges_for_plot()
    channel = result.stack.channel_depth_nm
    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)

    overview = axes[0, 0]
    overview.plot(z, conduction, color="tab:blue", label="$E_C$")
    overview.plot(z, valence, color="tab:red", label="$E_V$ (top)")
    overview.axhline(0.0, color="k", lw=0.8, ls="--", label="$E_F$")
    _mark_layers(overview, result)
    overview.set(xlabel="depth from surface (nm)", ylabel="energy (eV)", title="Band diagram")
    overview.legend(loc="best", fontsize=8)

    zoom = axes[0, 1]
    window = min(result.z_nm[-1], channel + 10.0)
    inside = z <= window
    zoom.plot(z[inside], valence[inside], color="tab:red")
    zoom.axhline(0.0, color="k", lw=0.8, ls="--")
    occupied = sorted(result.subbands, key=lambda s: -s.sheet_density_cm2)[:4]
    node_inside = result.z_nm <= window
    for subband in occupied:
        psi2 = subband.wavefunction_per_sqrt_nm[node_inside] ** 2
        scale = WAVEFUNCTION_HEIGHT_EV / max(psi2.max(), 1e-30)
        zoom.plot(
            result.z_nm[node_inside],
            subband.energy_eV + scale * psi2,
            lw=1.0,
            label=f"{subband.band}{subband.index}: {subband.sheet_density_cm2:.2e} cm$^{{-2}}$",
        )
        zoom.axhline(subband.energy_eV, lw=0.5, color="gray")
    zoom.axvline(channel, color="gray", lw=0.8)
    zoom.set(
        xlabel="depth from surface (nm)",
        ylabel="energy (eV)",
        title=f"2DHG: $p_s$ = {result.p_s_cm2:.3g} cm$^{{-2}}$",
        ylim=(-1.0, 0.5),
    )
    if occupied:
        zoom.legend(loc="lower left", fontsize=7)

    donors = axes[1, 0]
    total = np.maximum(result.donor_density_cm3, 1e10)
    ionized = np.maximum(result.ionized_donor_density_cm3, 1e10)
    donors.semilogy(result.z_nm, total, color="tab:green", label="$N_D$")
    donors.semilogy(result.z_nm, ionized, color="tab:olive", ls="--", label="$N_D^+$")
    _mark_layers(donors, result)
    donors.set(
        xlabel="depth from surface (nm)",
        ylabel="donors (cm$^{-3}$)",
        title="Donor profile",
        ylim=(1e13, max(1e18, 3 * total.max())),
    )
    if not result.stack.donors:
        donors.text(0.5, 0.5, "undoped", transform=donors.transAxes, ha="center", color="gray")
    donors.legend(loc="best", fontsize=8)

    holes = axes[1, 1]
    holes.plot(result.z_nm[node_inside], result.hole_density_cm3[node_inside], color="tab:red")
    holes.axvline(channel, color="gray", lw=0.8)
    holes.set(
        xlabel="depth from surface (nm)",
        ylabel="holes (cm$^{-3}$)",
        title=f"Hole density (centroid {result.hole_centroid_nm - channel:+.2f} nm)",
    )
    figure.suptitle(
        f"{result.stack.name}: T = {result.temperature_K:g} K, {result.parameter_set}",
        fontsize=11,
    )
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _mark_layers(axis, result) -> None:
    """Shade IBLs and draw the heterointerfaces."""
    for depth in result.stack.interface_depths_nm:
        axis.axvline(depth, color="gray", lw=0.8)
    for top, bottom in result.stack.ibl_depths_nm():
        axis.axvspan(top, bottom, color="tab:purple", alpha=0.2, lw=0)


def plot_sweep(sweep_result, path: str | Path) -> Path:
    """The central comparison: p_s (and the mobility model) versus donor tail density."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    s = sweep_result
    densities = s.tail_densities_cm3
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), constrained_layout=True)

    left.semilogx(
        densities,
        s.p_s_without_ibl_cm2,
        "o-",
        color="tab:red",
        label=f"no IBL: spread $\\Delta p_s$ = {s.spread_without_ibl_cm2:.2g} cm$^{{-2}}$",
    )
    left.semilogx(
        densities,
        s.p_s_with_ibl_cm2,
        "s-",
        color="tab:blue",
        label=f"with IBL: spread $\\Delta p_s$ = {s.spread_with_ibl_cm2:.2g} cm$^{{-2}}$",
    )
    left.axhline(s.polarization_charge_cm2, color="k", ls=":", lw=1, label="$|\\sigma|/q$")
    left.axhline(s.undoped_p_s_cm2, color="gray", ls="--", lw=1, label="undoped")
    for values, color in ((s.p_s_without_ibl_cm2, "tab:red"), (s.p_s_with_ibl_cm2, "tab:blue")):
        left.axhspan(values.min(), values.max(), color=color, alpha=0.08, lw=0)
    left.set(
        xlabel="donor density at the nucleation interface $N_0$ (cm$^{-3}$)",
        ylabel="2DHG density $p_s$ (cm$^{-2}$)",
        title=f"$p_s$ vs floating donor tail (decay {s.decay_length_nm:g} nm)",
        ylim=(0.0, 1.1 * s.polarization_charge_cm2),
    )
    left.legend(loc="lower left", fontsize=8)

    right.semilogx(
        densities, s.mobility_without_ibl_cm2_per_Vs, "o-", color="tab:red", label="no IBL"
    )
    right.semilogx(
        densities, s.mobility_with_ibl_cm2_per_Vs, "s-", color="tab:blue", label="with IBL"
    )
    right.set(
        xlabel="donor density at the nucleation interface $N_0$ (cm$^{-3}$)",
        ylabel="Hall mobility (cm$^2$/Vs)",
        title="Hall mobility: Matthiessen model (trend only)",
    )
    right.set_ylim(bottom=0.0)
    right.legend(loc="lower left", fontsize=8)
    ibl = s.blocking_layer
    figure.suptitle(
        f"{s.stack_name}, T = {s.temperature_K:g} K, {s.parameter_set}; "
        f"IBL {ibl.thickness_nm:g} nm at {ibl.height_nm:g} nm above the nucleation interface, "
        f"transmission {ibl.transmission:g}",
        fontsize=10,
    )
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
