"""Figures (headless matplotlib, PNG): band diagram, growths with/without IBL, IBL map,
mobility against temperature."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sw.workloads.common import pyplot

WAVEFUNCTION_HEIGHT_EV = 0.25  # how tall |psi|^2 is drawn on the energy axis


def plot_band_diagram(result, path: str | Path) -> Path:
    """Four panels: whole stack, channel zoom with subbands, donors, holes. Returns path."""
    plt = pyplot()
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
    """The growths: p_s, Hall mobility and sheet conductance against the donor tail N0."""
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    s = sweep_result
    densities = s.tail_densities_cm3
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.5), constrained_layout=True)
    for values, style, color, label in (
        (s.p_s_without_ibl_cm2, "o-", "tab:red", "no IBL"),
        (s.p_s_with_ibl_cm2, "s-", "tab:blue", "with IBL"),
    ):
        spread = float(np.ptp(values))
        left.semilogx(
            densities, values, style, color=color, label=f"{label}: Δp_s = {spread:.2g} cm$^{{-2}}$"
        )
        left.axhspan(values.min(), values.max(), color=color, alpha=0.08, lw=0)
    left.axhline(s.polarization_charge_cm2, color="k", ls=":", lw=1, label="$|\\sigma|/q$")
    left.axhline(s.undoped_p_s_cm2, color="gray", ls="--", lw=1, label="undoped")
    left.set(
        xlabel="donor density at the nucleation interface $N_0$ (cm$^{-3}$)",
        ylabel="2DHG density $p_s$ (cm$^{-2}$)",
        title="paper: Δp_s > 7e13 without, ≤ 1e13 with IBLs",
        ylim=(0.0, 1.1 * s.polarization_charge_cm2),
    )
    left.legend(loc="lower left", fontsize=8)
    middle.semilogx(
        densities, s.mobility_without_ibl_cm2_per_Vs, "o-", color="tab:red", label="no IBL"
    )
    middle.semilogx(
        densities, s.mobility_with_ibl_cm2_per_Vs, "s-", color="tab:blue", label="with IBL"
    )
    middle.axhline(s.undoped.hall_mobility_cm2_per_Vs, color="gray", ls="--", lw=1, label="undoped")
    middle.set(
        xlabel="$N_0$ (cm$^{-3}$)",
        ylabel="Hall mobility (cm$^2$/Vs)",
        title="scattering model (paper: 3× with IBLs)",
    )
    middle.set_ylim(bottom=0.0)
    middle.legend(loc="lower left", fontsize=8)
    right.semilogx(densities, s.mobility_ratio, "o-", color="tab:purple", label="Hall mobility")
    right.semilogx(densities, s.conductance_ratio, "s-", color="tab:green", label="conductance")
    right.axhspan(2.0, 3.0, color="tab:green", alpha=0.1, lw=0, label="paper: σ 2-3×")
    right.axhline(3.0, color="tab:purple", ls=":", lw=1, label="paper: μ 3×")
    right.set(xlabel="$N_0$ (cm$^{-3}$)", ylabel="IBL / no IBL", title="gains from the IBL")
    right.set_yscale("log")
    right.legend(loc="upper left", fontsize=8)
    ibl = s.blocking_layer
    cap = "" if s.cap_decay_length_nm is None else f", {s.cap_decay_length_nm:g} nm in the cap"
    figure.suptitle(
        f"{s.stack_name}, T = {s.temperature_K:g} K, {s.parameter_set}; segregation length "
        f"{s.decay_length_nm:g} nm{cap}; IBL {ibl.thickness_nm:g} nm at {ibl.height_nm:g} nm, "
        f"transmission {ibl.transmission:g}",
        fontsize=10,
    )
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_ibl_map(ibl_map, path: str | Path) -> Path:
    """Recovery of the lost p_s against the IBL's height and its transmission."""
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    recovery = ibl_map.recovery
    image = left.pcolormesh(
        np.arange(ibl_map.transmissions.size + 1),
        np.concatenate(
            [ibl_map.heights_nm, [ibl_map.heights_nm[-1] + np.diff(ibl_map.heights_nm)[-1]]]
        ),
        recovery,
        cmap="viridis",
        vmin=0.0,
        vmax=1.0,
        shading="flat",
    )
    left.set_xticks(np.arange(ibl_map.transmissions.size) + 0.5)
    left.set_xticklabels([f"{t:g}" for t in ibl_map.transmissions], rotation=45)
    left.set(
        xlabel="IBL transmission T (blocking efficiency 1 - T)",
        ylabel="IBL bottom above the nucleation interface (nm)",
        title="recovered fraction of the lost $p_s$",
    )
    figure.colorbar(image, ax=left)
    for j, transmission in enumerate(ibl_map.transmissions):
        right.plot(ibl_map.heights_nm, recovery[:, j], "o-", ms=3, label=f"T = {transmission:g}")
    right.set(
        xlabel="IBL bottom above the nucleation interface (nm)",
        ylabel="recovered fraction",
        title="placement: captured donors near the channel ionize",
        ylim=(-0.05, 1.05),
    )
    right.legend(fontsize=7)
    tail = ibl_map.tail
    figure.suptitle(
        f"tail N0 = {tail.density_cm3:.3g} cm$^{{-3}}$, segregation length "
        f"{tail.decay_length_nm:g} nm; {ibl_map.thickness_nm:g} nm IBL, captured donors "
        f"{'active' if ibl_map.trapped_active else 'inactive'}",
        fontsize=10,
    )
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_mobility_temperature(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Hall mobility and each mechanism alone against temperature (``rows`` from the CLI)."""
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(7, 4.8), constrained_layout=True)
    temperatures = [row["temperature_K"] for row in rows]
    for name in rows[0]["mechanisms_cm2_per_Vs"]:
        values = [row["mechanisms_cm2_per_Vs"][name] for row in rows]
        values = [np.nan if value is None else value for value in values]  # None: nothing
        axis.loglog(temperatures, values, "--", lw=1, label=name.replace("_", " "))
    axis.loglog(temperatures, [row["hall_cm2_per_Vs"] for row in rows], "k-o", label="Hall (all)")
    axis.set(xlabel="temperature (K)", ylabel="mobility (cm$^2$/Vs)", title=title)
    bottom = 0.3 * min(row["hall_cm2_per_Vs"] for row in rows)
    axis.set_ylim(bottom, 1e4)
    axis.legend(fontsize=8)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
