"""Writing results: CSV or Parquet tables, JSON summary, PNG figure, atomically.

A run's outputs are a set: ``--out`` holds either the previous complete set
or the new complete set, never a mix, whenever the process is stopped. They
are written into a staging folder *beside* ``--out`` (``.NAME.staging-PID``
in its parent), then swapped in by renames with SIGINT and SIGTERM held
back: the old folder is renamed to ``.NAME.old-PID``, the staging folder to
``NAME``, and the old one removed. Between those two renames ``NAME`` does
not exist for a moment (a reader sees no folder, never a mix); a SIGKILL
that lands there leaves both folders, and the next run (or any later write
to the same ``--out``) puts the old set back and removes the staged one.
Leftovers of a killed process (staging or old folders whose process no
longer runs) are cleaned the same way before a run starts.

Because the whole folder is replaced, ``--out`` must be new, empty, or hold
only the outputs of an earlier run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from marrowsim.errors import InputError
from marrowsim.io import inputs

if TYPE_CHECKING:
    from marrowsim.result import Result

FORMATS = ("csv", "parquet")
# every file a run may write; a folder holding anything else is not replaced
OUTPUT_NAMES = frozenset(
    {
        "timecourse.csv",
        "timecourse.parquet",
        "patients.csv",
        "summary.json",
        "timecourse.png",
        "survival.png",
        "response.png",
    }
)
# room in a folder name for the staging suffix (".NAME.staging-PID")
MAX_OUT_NAME_BYTES = inputs.MAX_PATH_PART_BYTES - 30
# tests only: "PHASE=SECONDS" pauses at every PHASE ("simulate", "write": after
# each staged file), "PHASE#N=SECONDS" at its N-th time only; each pause says
# "test-hook: PHASE N" on stderr first
TEST_HOOKS = "MARROWSIM_TEST_HOOKS"
_hook_counts: dict[str, int] = {}


def pause_for_tests(phase: str) -> None:
    """Pause at ``phase`` when the test hook asks for it (never otherwise)."""
    hooks = os.environ.get(TEST_HOOKS)
    if not hooks:
        return
    count = _hook_counts[phase] = _hook_counts.get(phase, 0) + 1
    for item in hooks.split(","):
        name, _, seconds = item.partition("=")
        if name.strip() in (phase, f"{phase}#{count}"):
            print(f"test-hook: {phase} {count}", file=sys.stderr, flush=True)
            time.sleep(float(seconds))


def _first_existing(target: Path) -> Path:
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing


def check_writable(
    out: Path | str, option: str = "--out", extra: tuple[str, ...] | frozenset[str] = ()
) -> Path:
    """Fail early, before any simulation, if ``out`` cannot be written or
    replaced; cleans what a killed earlier run left beside it, creates
    nothing, and returns the absolute folder."""
    text = inputs.path_text(option, out)
    shown = inputs.shown(text)
    try:
        target = Path(text).resolve()
    except (OSError, RuntimeError) as error:
        raise InputError(f"{option}: {shown} cannot be resolved ({error})") from None
    here = Path.cwd().resolve()
    if target == here or target in here.parents:
        raise InputError(
            f"{option}: {shown} is the working folder or one above it; the outputs replace"
            " the whole folder, so give one of their own, e.g. out/run"
        )
    if len(os.fsencode(target.name)) > MAX_OUT_NAME_BYTES:
        raise InputError(
            f"{option}: the folder name of {shown} is longer than {MAX_OUT_NAME_BYTES} bytes"
        )
    clean_stale(target)
    existing = _first_existing(target)
    if existing != target and not existing.is_dir():
        raise InputError(
            f"{option}: {shown} is not a writable folder ({inputs.shown(str(existing))} is a file)"
        )
    if existing == target:
        if not target.is_dir():
            raise InputError(f"{option}: {shown} is not a writable folder (it is a file)")
        known = OUTPUT_NAMES | set(extra)
        foreign = sorted(p.name for p in target.iterdir() if p.name not in known)
        if foreign:
            raise InputError(
                f"{option}: {shown} holds files marrowsim did not write"
                f" ({inputs.shown(foreign[0])}{', ...' if len(foreign) > 1 else ''});"
                " give a new or empty folder, or one an earlier run wrote"
            )
        existing = _first_existing(target.parent)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            f"{option}: {shown} is not a writable folder"
            f" (no permission on {inputs.shown(str(existing))})"
        )
    return target


_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>staging|old)-(?P<pid>[0-9]+)$")


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def clean_stale(target: Path) -> None:
    """Remove staging and old folders beside ``target`` whose process is gone;
    an old folder is put back as ``target`` when ``target`` is missing (its
    process was killed between the two renames of the swap)."""
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return
    leftovers = []
    for entry in entries:
        match = _LEFTOVER.match(entry.name)
        if match and match["name"] == target.name and not _running(int(match["pid"])):
            leftovers.append((match["kind"], entry))
    for kind, entry in sorted(leftovers):  # "old" before "staging"
        with contextlib.suppress(OSError):
            if kind == "old" and not target.exists():
                os.rename(entry, target)
            else:
                shutil.rmtree(entry)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends (then act at once)."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _mode_of_new_files() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomically(path: Path, text: str, option: str = "--output") -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``;
    on failure nothing is left behind (the error names ``option``)."""
    folder = path.parent if str(path.parent) else Path(".")
    temporary: str | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=folder, prefix=f".{path.name}.", delete=False
        ) as handle:
            temporary = handle.name
            handle.write(text)
        os.chmod(temporary, _mode_of_new_files())  # as an ordinary new file would be
        os.replace(temporary, path)
        temporary = None
    except OSError as error:
        raise InputError(
            f"{option}: {str(path)!r} cannot be written ({error.strerror or error})"
        ) from None
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def clean(value: Any) -> Any:
    """JSON-ready: NaN and infinities as null, tuples as lists."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_table(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    """CSV or Parquet through pyarrow (its CSV writer is about 8x faster than
    pandas' on a 10,000-patient timecourse); categories are written as text."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if fmt == "parquet":
        with TableWriter(path, fmt) as writer:
            writer.write(table)
        return
    with open(path, "wb") as handle:  # a plain header: pyarrow would quote it
        handle.write(csv_header(table.column_names))
        write_csv_rows(table, handle)


def csv_header(columns: list[str]) -> bytes:
    return (",".join(columns) + "\n").encode()


def write_csv_rows(table: Any, handle: Any) -> None:
    """The rows of an arrow table as CSV (no header; categories as text): a
    table's rows are written the same whether it is whole or in parts."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    for k, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(k, field.name, table.column(k).cast(pa.string()))
    pa_csv.write_csv(table, handle, pa_csv.WriteOptions(include_header=False, quoting_style="none"))


# rows per Parquet row group of a timecourse, fixed so that a table written
# in parts (a run in chunks) is the same file as the table written whole
PARQUET_ROW_GROUP = 1 << 20


class TableWriter:
    """A Parquet timecourse written from arrow tables in order, in row
    groups of exactly ``PARQUET_ROW_GROUP`` rows (the last one shorter)."""

    def __init__(self, path: Path, fmt: str) -> None:
        assert fmt == "parquet"
        self.path = path
        self.writer: Any = None
        self.pending: list[Any] = []
        self.rows = 0

    def write(self, table: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pa_parquet

        if self.writer is None:
            self.writer = pa_parquet.ParquetWriter(self.path, table.schema)
        self.pending.append(table)
        self.rows += table.num_rows
        while self.rows >= PARQUET_ROW_GROUP:
            whole = pa.concat_tables(self.pending).combine_chunks()
            self.writer.write_table(whole.slice(0, PARQUET_ROW_GROUP))
            rest = whole.slice(PARQUET_ROW_GROUP)
            self.pending, self.rows = [rest], rest.num_rows

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        import pyarrow as pa

        if self.writer is None:
            return
        if self.rows and exc[0] is None:
            self.writer.write_table(pa.concat_tables(self.pending).combine_chunks())
        self.writer.close()


def write_result(result: Result, out: Path | str, fmt: str = "csv") -> list[Path]:
    """Write the outputs as a set, replacing ``out`` whole (module docstring):
    a failure or a stop at any moment leaves ``out`` as it was."""
    if fmt not in FORMATS:
        raise InputError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")

    def write(staging: Path) -> list[str]:
        return write_set(
            result,
            staging,
            fmt,
            lambda path: _write_table(result.timecourse, path, fmt),
            lambda path: result.patients.to_csv(path, index=False),
        )

    return write_folder(out, write)


def write_set(
    result: Any,
    staging: Path,
    fmt: str,
    timecourse: Callable[[Path], None],
    patients: Callable[[Path], None],
) -> list[str]:
    """Write a run's set of outputs into ``staging``: the timecourse and the
    patients' table by the writers given, the summary and the figures from
    ``result`` (a :class:`Result`, or a run in chunks' view of its chunks
    with the same attributes). Returns the names written."""
    name = f"timecourse.{fmt}"
    names = [name, "patients.csv", "summary.json", "timecourse.png"]
    if result.n_patients > 1:
        names.append("survival.png")
        if np.isfinite(result.responses.treatment_start).any():
            names.append("response.png")
    timecourse(staging / name)
    pause_for_tests("write")
    patients(staging / "patients.csv")
    pause_for_tests("write")
    (staging / "summary.json").write_text(
        json.dumps(clean(result.summary), indent=2) + "\n", encoding="utf-8"
    )
    pause_for_tests("write")
    from marrowsim.plotting import plot_response, plot_survival, plot_timecourse

    plot_timecourse(result, staging / "timecourse.png")
    pause_for_tests("write")
    if "survival.png" in names:  # a cohort's (one patient's is a single step)
        plot_survival(result, staging / "survival.png")
        pause_for_tests("write")
    if "response.png" in names:  # a treated cohort's
        plot_response(result, staging / "response.png")
        pause_for_tests("write")
    return names


def write_folder(
    out: Path | str,
    write: Callable[[Path], list[str]],
    extra: tuple[str, ...] | frozenset[str] = (),
) -> list[Path]:
    """Stage the files ``write(staging folder)`` writes (it returns their
    names), then swap them in for ``out`` whole (module docstring). ``extra``:
    further names an earlier run of this kind may have written there."""
    target = check_writable(out, extra=extra)
    created = _first_existing(target.parent)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"--out: {inputs.shown(str(out))} is not a writable folder ({error.strerror or error})"
        ) from None
    staging = target.parent / f".{target.name}.staging-{os.getpid()}"
    done = False
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        names = write(staging)
        for name in names:
            path = staging / name
            if path.is_dir():
                os.chmod(path, 0o777 & ~_umask())
                for part in path.iterdir():
                    os.chmod(part, _mode_of_new_files())
            else:
                os.chmod(path, _mode_of_new_files())
        os.chmod(staging, 0o777 & ~_umask())
        with _signals_held():
            if target.exists():
                old = target.parent / f".{target.name}.old-{os.getpid()}"
                shutil.rmtree(old, ignore_errors=True)
                os.rename(target, old)
                os.rename(staging, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(staging, target)
        done = True
        return [target / name for name in names]
    except OSError as error:
        raise InputError(
            f"--out: {inputs.shown(str(out))} cannot be written ({error.strerror or error})"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not done:
            _remove_empty_parents(target.parent, created)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    """Remove the folders this run created above the outputs (if empty)."""
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
