"""Readers of the files ML apps write their results to; each returns a document of numbers.

JSON and YAML files are returned as written (`metrics` flattens them). A per-step log,
PyTorch Lightning's ``CSVLogger`` ``metrics.csv`` or a folder of TensorBoard event files,
becomes one flat mapping: ``<name>`` is the last value logged and ``<name>.best`` the best
one (see `best_of`). YAML and TensorBoard are imported only when such a file is read;
TensorBoard is the optional extra ``thesis-sweep[tensorboard]``.
"""

from __future__ import annotations

import csv
import functools
import importlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

Number = int | float

# A name containing one of these is a cost: its best value is the smallest.
LOWER_IS_BETTER = ("loss", "err", "mae", "mse", "perplexity")
COUNTERS = frozenset({"epoch", "step"})  # logged next to every metric; a best means nothing
EVENTS_PREFIX = "events.out.tfevents."
TENSORBOARD_HINT = "pip install 'thesis-sweep[tensorboard]'"

# YAML 1.2 reads 1e-3 as a float; PyYAML follows YAML 1.1, which needs a dot (1.0e-3).
YAML12_EXPONENT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$")


class TensorboardMissing(Exception):
    """Event files were found but the tensorboard package cannot be imported."""


def lower_is_better(name: str) -> bool:
    """True for costs (a name containing loss, err, mae, mse or perplexity, any case)."""
    lowered = name.lower()
    return any(word in lowered for word in LOWER_IS_BETTER)


def best_of(name: str, values: Iterable[Number]) -> Number:
    """The best of a series: min for costs, max otherwise; NaN only when every value is."""
    real = [v for v in values if not math.isnan(v)]
    if not real:
        return math.nan
    return min(real) if lower_is_better(name) else max(real)


def last_and_best(series: Mapping[str, list[Number]]) -> dict[str, Number]:
    """``{name: last, name.best: best}`` per series with values (counters get no best)."""
    out: dict[str, Number] = {}
    for name, values in series.items():
        if not values:
            continue
        out[name] = values[-1]
        if name not in COUNTERS:
            out[f"{name}.best"] = best_of(name, values)
    return out


def parse_cell(cell: str) -> Number | None:
    """A CSV cell as an int or a float (nan and inf too), or None if empty or not a number."""
    text = cell.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return int(text) if text.lstrip("+-").isdigit() else value


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@functools.cache
def _yaml_loader() -> Any:
    """PyYAML's safe loader (the C one where built), also reading YAML 1.2 floats (1e-3)."""
    yaml = importlib.import_module("yaml")
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader: Any = type("MetricsLoader", (base,), {})
    loader.add_implicit_resolver("tag:yaml.org,2002:float", YAML12_EXPONENT, list("-+.0123456789"))
    return loader


def _string_keys(doc: Any) -> Any:
    """`doc` with every mapping key a string, as in JSON (YAML allows `0: 0.93`)."""
    if isinstance(doc, Mapping):
        return {str(key): _string_keys(value) for key, value in doc.items()}
    if isinstance(doc, list):
        return [_string_keys(item) for item in doc]
    return doc


def read_yaml(path: Path) -> Any:
    yaml = importlib.import_module("yaml")
    with open(path, encoding="utf-8") as handle:
        try:
            # A SafeLoader with one more float resolver: no object construction.
            return _string_keys(yaml.load(handle, Loader=_yaml_loader()))
        except yaml.YAMLError as exc:
            raise ValueError(" ".join(str(exc).split())) from None


def read_csv_log(path: Path) -> dict[str, Number]:
    """Last and best per column of a CSV log whose rows are logging steps (empty cells skipped)."""
    series: dict[str, list[Number]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, [])
            for row in reader:
                for name, cell in zip(header, row, strict=False):  # short rows: cells missing
                    value = parse_cell(cell)
                    if name and value is not None:
                        series.setdefault(name, []).append(value)
        except csv.Error as exc:
            raise ValueError(f"line {reader.line_num}: {exc}") from None
    return last_and_best(series)


@functools.cache
def _tensorboard() -> tuple[ModuleType, ModuleType] | None:
    try:
        return (
            importlib.import_module(
                "tensorboard.backend.event_processing.plugin_event_accumulator"
            ),
            importlib.import_module("tensorboard.util.tensor_util"),
        )
    except ImportError:
        return None


def read_events(path: Path) -> dict[str, Number]:
    """Last and best per scalar tag of the TensorBoard event files in folder `path` (or of
    the one event file `path`), read with TensorBoard's own loader.

    Both kinds of scalar are read: the ``simple_value`` ones that PyTorch's and
    tensorboardX's ``SummaryWriter`` write, and the tensor ones of ``tf.summary``.
    """
    modules = _tensorboard()
    if modules is None:
        raise TensorboardMissing(TENSORBOARD_HINT)
    accumulators, tensor_util = modules
    loader = accumulators.EventAccumulator(str(path), size_guidance={accumulators.TENSORS: 0})
    try:
        loader.Reload()
    except Exception as exc:  # the library raises its own errors (DataLossError and the like)
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    has_scalars = "scalars" in loader.ActivePlugins()
    series: dict[str, list[Number]] = {}
    for tag in loader.PluginTagToContent("scalars") if has_scalars else ():
        for event in loader.Tensors(tag):
            array = tensor_util.make_ndarray(event.tensor_proto)
            if array.size == 1:
                # str() of a float32 is its shortest form: 0.1, not 0.10000000149011612.
                series.setdefault(tag, []).append(float(str(array.reshape(-1)[0])))
    return last_and_best(series)
