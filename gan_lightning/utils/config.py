"""Building objects from configs so that a bad value reads as the one-line error our constructors raise."""

from __future__ import annotations

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate as hydra_instantiate

# Errors our constructors raise on purpose, with the config key and the allowed values in one line.
CONFIG_ERRORS = (ValueError, FileNotFoundError)


def instantiate(config: Any, *args: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate``, re-raising a constructor's ValueError / FileNotFoundError itself instead of
    Hydra's multi-line InstantiationException around it.

    Raises:
        ValueError, FileNotFoundError: from the constructors (their messages name the key and the fix).
        InstantiationException: any other failure, as Hydra reports it.
    """
    try:
        return hydra_instantiate(config, *args, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        while isinstance(cause, InstantiationException) and cause.__cause__ is not None:  # nested _target_s
            cause = cause.__cause__
        if isinstance(cause, CONFIG_ERRORS):
            raise cause from None
        raise
