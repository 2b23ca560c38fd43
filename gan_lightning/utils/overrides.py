"""The command line's config-group overrides (``model=gan``) checked against the config folder, read with Hydra's own
override parser, before Hydra composes: an unknown option becomes one line naming the allowed ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType, ValueType
from hydra.errors import HydraException

from gan_lightning import CONFIG_DIR

# Flags after which the group options may come from another folder than CONFIG_DIR: Hydra decides.
_OTHER_CONFIG_FLAGS = ("-cd", "--config-dir", "-cp", "--config-path")
_PREFIX = {OverrideType.ADD: "+", OverrideType.FORCE_ADD: "++", OverrideType.DEL: "~", OverrideType.CHANGE: ""}


class ConfigGroupError(ValueError):
    """A command-line override picks an option that its config group does not have."""


def group_options(group_dir: Path) -> list[str]:
    """The options of a config group: its yaml files, without the suffix, relative to the group folder."""
    return sorted(p.relative_to(group_dir).with_suffix("").as_posix() for p in group_dir.rglob("*.yaml"))


def parse_overrides(args: list[str]) -> list[Override]:
    """The overrides among command-line ``args``, parsed one by one by Hydra's override parser; flags (``-m``,
    ``--cfg``) and what the parser refuses (a flag's value such as ``job``, a malformed override) are left out,
    for Hydra to read or report."""
    parser = OverridesParser.create()
    overrides = []
    for arg in args:
        if arg.startswith("-"):
            continue
        try:
            overrides.extend(parser.parse_overrides([arg]))
        except HydraException:
            continue
    return overrides


def chosen_options(override: Override, multirun: bool) -> Iterator[str]:
    """The group options an override picks: its value, or with ``multirun`` every item of a choice sweep
    (``a,b``, ``choice(a,b)``). Nothing for what Hydra reads itself: ``null``, an empty value, a non-string, a list,
    an interpolation, a quoted item, a glob / range / interval sweep, and any sweep outside a multirun (Hydra reports
    the ambiguity)."""
    if override.is_sweep_override():
        if multirun and override.value_type in (ValueType.SIMPLE_CHOICE_SWEEP, ValueType.CHOICE_SWEEP):
            yield from (item for item in override.value().list if _plain_option(item))
        return
    if _plain_option(override.value()):
        yield override.value()


def _plain_option(value: object) -> bool:
    return isinstance(value, str) and value != "" and "${" not in value


def check_group_overrides(args: list[str], config_dir: Path = CONFIG_DIR) -> None:
    """Check the ``group=option`` overrides in command-line ``args`` against the yaml files of ``config_dir``,
    before Hydra composes (whose own error spans several lines). Also ``+group=``, ``++group=``, ``~group=``,
    ``group@package=`` and, with ``-m``, every item of ``group=a,b`` or ``group=choice(a,b)``. Anything else (keys,
    other sweeps, lists, interpolations, ``null``, Hydra's own groups, an extra ``--config-dir``, ``--config-path``
    or ``hydra.searchpath``, an argument the parser refuses) is left to Hydra (:func:`chosen_options`).

    Raises:
        ConfigGroupError: one line naming the override, the group and its allowed options.
    """
    if any(a in _OTHER_CONFIG_FLAGS or a.startswith(tuple(f"{f}=" for f in _OTHER_CONFIG_FLAGS)) for a in args):
        return  # options may come from another directory
    overrides = parse_overrides(args)
    if any(o.key_or_group == "hydra.searchpath" for o in overrides):
        return
    multirun = "-m" in args or "--multirun" in args
    for override in overrides:
        group = override.key_or_group
        group_dir = config_dir / group
        if group.split("/")[0] == "hydra" or not group_dir.is_dir():
            continue
        for option in chosen_options(override, multirun):
            if not (group_dir / f"{option}.yaml").is_file():
                raise ConfigGroupError(f"{_PREFIX[override.type]}{group}={option} is not a config of group '{group}'; "
                                       f"allowed: {', '.join(group_options(group_dir))}")
