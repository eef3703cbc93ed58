"""A Hydra callback that records what a job's task function returned, as Hydra's own
sweepers see it (Optuna's objective is that value): `<run dir>/.sweep/return.json`.

The job runner adds it to every job (`++hydra.callbacks.thesis_sweep_return._target_=...`,
this folder at the end of PYTHONPATH), so the app needs no change. It runs inside the app,
under the app's interpreter and Hydra, and imports nothing else: it stays in a folder of
its own, so it can never shadow one of the app's modules. Written atomically, once, when
the job completes; a number (or a list of numbers, for several objectives) is kept as a
float, anything else only by its type name:

    {"schema_version": 1, "value": 0.93, "type": "float"}
    {"schema_version": 1, "value": [0.93, 12.5], "type": "tuple"}
    {"schema_version": 1, "value": null, "type": "dict"}
"""

import contextlib
import json
import math
import os
from typing import Any, Optional

from hydra.experimental.callback import Callback

RETURN_FILE = "return.json"


def _number(value: Any) -> Optional[float]:
    """A finite float, or None (bools, strings and NaN are not numbers here)."""
    if isinstance(value, (bool, str, bytes)):
        return None
    item = getattr(value, "item", None)  # a 0-d NumPy array or torch tensor
    if callable(item) and getattr(value, "ndim", 0) == 0:
        value = item()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def recorded(value: Any) -> Any:
    """What return.json holds for `value`: a number, a list of numbers, or None."""
    number = _number(value)
    if number is not None:
        return number
    if isinstance(value, (list, tuple)) and value:
        numbers = [_number(v) for v in value]
        if all(n is not None for n in numbers):
            return numbers
    return None


class RecordReturn(Callback):
    """Writes the job's return value next to its status (`.sweep/return.json`)."""

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        run_dir = os.environ.get("THESIS_SWEEP_RUN_DIR")
        status = getattr(job_return, "status", None)
        if not run_dir or getattr(status, "name", None) != "COMPLETED":
            return
        value = job_return.return_value
        record = {"schema_version": 1, "value": recorded(value), "type": type(value).__name__}
        folder = os.path.join(run_dir, ".sweep")
        target = os.path.join(folder, RETURN_FILE)
        temp = os.path.join(folder, f".{RETURN_FILE}.{os.getpid()}.tmp")
        try:
            with open(temp, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
                handle.write("\n")
            os.replace(temp, target)
        except OSError:  # the job's result stands without it; nothing to stop here
            with contextlib.suppress(OSError):
                os.unlink(temp)
