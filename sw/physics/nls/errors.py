"""Errors raised by the solver: every failure says what was measured when it gave up."""

from __future__ import annotations


class ConvergenceError(RuntimeError):
    """An iteration did not reach its tolerance.

    Attributes
    ----------
    residual:
        The last relative residual (equation residual, or mass error for the outer
        iteration) when the solver stopped.
    iterations:
        Iterations done.
    lambdas:
        The last (λ1, λ2) (or (λ,)) iterate, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        residual: float,
        iterations: int = 0,
        lambdas: tuple[float, ...] | None = None,
    ) -> None:
        lambdas_text = "" if lambdas is None else ", λ = " + ", ".join(f"{x:.6g}" for x in lambdas)
        super().__init__(
            f"{message} (last residual {residual:.3e} after {iterations} iterations{lambdas_text})"
        )
        self.residual = residual
        self.iterations = iterations
        self.lambdas = lambdas


class ConcentrationError(ConvergenceError):
    """The profile collapses to a point (an Aubin-Talenti bubble): no normalized solution.

    This is how non-existence shows up at the Sobolev-critical exponent in N = 3, 4:
    minimizing sequences on the Pohozaev manifold concentrate. Extra attributes:
    ``component`` (0 for u, 1 for v), ``core_width`` (radius where the profile drops to
    half its central value, in length units, at the last iterate), ``shrink_factor``
    (initial core width / last core width), ``sobolev_ratio`` (∫|∇w|² / ‖w‖²_{2*}
    divided by the best Sobolev constant S: tends to 1 for a bubble) and
    ``bubble_misfit`` (max relative deviation of the core from the best-fitting
    bubble ``A (1 + (r/ε)²)^(-(N-2)/2)`` over r < 3 core widths).
    """

    def __init__(
        self,
        message: str,
        *,
        residual: float,
        iterations: int,
        component: int,
        core_width: float,
        shrink_factor: float,
        sobolev_ratio: float,
        bubble_misfit: float,
        lambdas: tuple[float, ...] | None = None,
    ) -> None:
        super().__init__(message, residual=residual, iterations=iterations, lambdas=lambdas)
        self.component = component
        self.core_width = core_width
        self.shrink_factor = shrink_factor
        self.sobolev_ratio = sobolev_ratio
        self.bubble_misfit = bubble_misfit


class VanishingError(ConvergenceError):
    """The profile spreads out (λ1 λ2 -> β², decay length -> infinity): no localized
    normalized solution along this iteration."""


class ResolutionError(ConvergenceError):
    """The discrete equations are solved but the grid does not resolve the solution: the
    continuum Pohozaev identity is violated by more than the requested tolerance."""
