"""The ranges a quantity given on the command line, in a plan or in a fit file must lie in:
what a run log accepts for the same quantity (outside it, a value is a unit slip). A module of
its own so that reading a fit file or fitting runs does not load the plan and hardware
readers (and their GPU presets)."""

from __future__ import annotations

from scaling_cli.errors import InputError

__all__ = ["PLAUSIBLE", "check_plausible"]

# What a run log accepts for the same quantities: a plan outside it is a unit slip.
PLAUSIBLE = {"params": (1e3, 1e15), "tokens": (1e3, 1e18), "gpus": (1, 1e9),
             "lr": (1e-8, 10.0), "batch_tokens": (1.0, 1e10)}
# Flags with no run-log field, held to ranges outside of which an answer is a slip too:
# unique data like tokens; lifetime inference tokens (0: none); a target loss like a run's;
# k in C = k N D (6 for training, 2 for a forward pass; 1e300 overflows every answer).
PLAUSIBLE.update({"unique_tokens": (1e3, 1e18), "inference_tokens": (0.0, 1e18),
                  "loss": (0.0, 20.0), "flops_per_param_token": (1.0, 100.0)})
_HINTS = {"loss": "a loss is in nats/token; if it is a perplexity, give its natural log",
          "flops_per_param_token": "k in C = k*N*D is about 6 for training (2 for a forward "
                                   "pass only)"}


def check_plausible(name: str, value: float, *, field: str | None = None) -> float:
    """``value`` if it lies in the range ``PLAUSIBLE[name]`` (for params, tokens and loss:
    what a run log accepts); the error names ``field`` (default: ``name``)."""
    low, high = PLAUSIBLE[name]
    if not low <= value <= high:
        size = "small" if value < low else "large"
        hint = _HINTS.get(name, "check the units")
        raise InputError(f"{value:g} is implausibly {size} (from {low:g} to {high:g}); {hint}",
                         field=field or name)
    return value
