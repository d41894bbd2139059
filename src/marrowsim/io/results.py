"""Writing results: CSV or Parquet tables, JSON summary, PNG figure, atomically.

Everything is first written into a temporary folder beside the destination and
only then moved into place, file by file with ``os.replace``; a failure while
simulating or writing leaves no partial file behind.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marrowsim.errors import InputError

if TYPE_CHECKING:
    from marrowsim.simulation import Result

FORMATS = ("csv", "parquet")


def check_writable(out: Path) -> None:
    """Fail early, before any simulation, if ``out`` cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".marrowsim-probe-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise InputError(f"--out: {str(out)!r} is not a writable folder ({reason})") from None


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=folder, prefix=f".{path.name}.", delete=False
        ) as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)  # as an ordinary new file would be
        os.replace(handle.name, path)
    except OSError as error:
        raise InputError(
            f"--output: {str(path)!r} cannot be written ({error.strerror or error})"
        ) from None


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_result(result: Result, out: Path, fmt: str = "csv") -> list[Path]:
    if fmt not in FORMATS:
        raise InputError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    check_writable(out)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".marrowsim-staging-"))
    try:
        names = []
        timecourse = f"timecourse.{fmt}"
        if fmt == "csv":
            result.timecourse.to_csv(staging / timecourse, index=False)
            result.patients.to_csv(staging / "patients.csv", index=False)
        else:
            result.timecourse.to_parquet(staging / timecourse, index=False)
            result.patients.to_csv(staging / "patients.csv", index=False)
        names += [timecourse, "patients.csv"]
        (staging / "summary.json").write_text(json.dumps(_clean(result.summary), indent=2) + "\n")
        names.append("summary.json")
        from marrowsim.plotting import plot_timecourse

        plot_timecourse(result, staging / "timecourse.png")
        names.append("timecourse.png")
        written = []
        for name in names:
            os.replace(staging / name, out / name)
            written.append(out / name)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
