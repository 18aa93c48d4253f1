"""The one gateway of every write into a run folder: atomic, and never through a link.

``write_file(path, data, root=run_dir)`` is how mtltune writes a file: a temporary file beside
the target, then a rename, so a reader (or a search interrupted by ``kill -9``) sees either the
old file or the new one, never a half-written one. A run folder is input that anyone could
have changed, so the write walks from ``root`` down to the file one folder at a time with
``O_NOFOLLOW`` (``openat``): a path that leaves ``root`` (``../``), a symbolic link anywhere
below ``root`` (a folder such as ``plots/`` or the file itself), or a file where a folder
belongs is refused with a ``RunPathError`` naming it, and nothing is written. ``root`` itself
is the user's choice (``--out`` may be a link). Writers that need a path of their own (Keras'
``save``) write into a private folder made the same way, then the file is renamed into place.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mtltune.errors import DamagedRunError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class RunPathError(DamagedRunError):
    """A write into a run folder would leave it (``..``, a link) or meets a file for a folder."""


def _refuse(path: Path, what: str) -> RunPathError:
    return RunPathError(
        f"{path}: {what}. mtltune writes only inside the run folder and never through a "
        "symbolic link; remove or move it, or run the search again into a new folder"
    )


def relative_parts(path: Path, root: Path) -> tuple[str, ...]:
    """``path``'s components below ``root`` (lexically, ``..`` resolved).

    Raises:
        RunPathError: If ``path`` is not below ``root`` (``../``, an absolute name elsewhere).
    """
    full, base = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    try:
        parts = full.relative_to(base).parts
    except ValueError:
        raise _refuse(Path(path), f"it lies outside the run folder {root}") from None
    if not parts:
        raise _refuse(Path(path), "it is the run folder itself, not a file in it")
    return parts


def check_inside(path: Path, root: Path) -> None:
    """Refuse ``path`` if it leaves ``root`` or an existing component below ``root`` is a link.

    Reads only (``lstat``); for folders that another library writes into (Keras Tuner's
    ``tuner/``).

    Raises:
        RunPathError: Naming the first offending component.
    """
    current = Path(root)
    for name in relative_parts(path, root):
        current = current / name
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode):
            raise _refuse(current, f"it is a symbolic link (to {os.readlink(current)})")


@contextlib.contextmanager
def _folder(root: Path, parts: tuple[str, ...]) -> Iterator[int]:
    """A descriptor of ``root/parts...``, made if missing, each step without following links."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        current = root
        for name in parts:
            current = current / name
            try:
                nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=fd)
                nxt = _open_step(name, fd, current)
            except OSError as exc:
                raise _step_error(exc, current) from None
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def _open_step(name: str, fd: int, current: Path) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        raise _step_error(exc, current) from None


def _step_error(exc: OSError, current: Path) -> Exception:
    if exc.errno == errno.ELOOP or os.path.islink(current):
        return _refuse(current, f"it is a symbolic link (to {os.readlink(current)})")
    if exc.errno == errno.ENOTDIR:
        return _refuse(current, "it is a file where a folder belongs")
    return exc


def _check_target(name: str, fd: int, path: Path) -> None:
    try:
        mode = os.lstat(name, dir_fd=fd).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise _refuse(path, f"it is a symbolic link (to {os.readlink(path)})")
    if stat.S_ISDIR(mode):
        raise _refuse(path, "it is a folder where a file belongs")


def write_file(path: Path, data: bytes | str, *, root: Path) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` inside ``root``, atomically; return ``path``.

    Raises:
        RunPathError: If ``path`` leaves ``root``, or a component below ``root`` (the file
            included) is a symbolic link, or a file stands where a folder belongs.
        OSError: If the disk refuses (full, read-only).
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    *folders, name = relative_parts(path, root)
    with _folder(root, tuple(folders)) as fd:
        _check_target(name, fd, Path(path))
        tmp = f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        # 0o666 honours the umask, like a plain open() (mkstemp would give 0600).
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        out = os.open(tmp, flags, 0o666, dir_fd=fd)
        try:
            with os.fdopen(out, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=fd)
            raise
    return Path(path)


def write_atomic(path: Path, text: str, *, root: Path) -> Path:
    """Write ``text`` to ``path`` inside ``root`` (``write_file``)."""
    return write_file(path, text, root=root)


def save_npz(path: Path, arrays: dict[str, np.ndarray], *, root: Path) -> Path:
    """Write arrays to a compressed ``.npz`` inside ``root`` (``write_file``)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return write_file(path, buffer.getvalue(), root=root)


def make_folder(path: Path, *, root: Path) -> Path:
    """Make the folder ``path`` inside ``root`` (and its parents), refusing links on the way."""
    with _folder(root, relative_parts(path, root)):
        return Path(path)


def open_stream(path: Path, *, root: Path) -> BinaryIO:
    """A new (truncated) file inside ``root`` for a stream such as a worker's log.

    Not atomic (it grows while a process writes it), but reached the same way as
    ``write_file``'s files: no link, no ``..``.
    """
    *folders, name = relative_parts(path, root)
    with _folder(root, tuple(folders)) as fd:
        _check_target(name, fd, Path(path))
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.fdopen(os.open(name, flags, 0o666, dir_fd=fd), "wb")


def write_with(path: Path, write: Callable[[Path], Any], *, root: Path) -> Path:
    """Have ``write(tmp)`` write a file that is then renamed to ``path`` inside ``root``.

    ``tmp`` keeps ``path``'s name (writers such as Keras' ``save`` check its suffix) in a
    private folder made beside ``path`` (mode 0700, refused if it exists), removed afterwards.
    """
    *folders, name = relative_parts(path, root)
    with _folder(root, tuple(folders)) as fd:
        _check_target(name, fd, Path(path))
        private = f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.d"
        os.mkdir(private, 0o700, dir_fd=fd)
        try:
            write(Path(os.path.abspath(path)).parent / private / name)
            os.replace(f"{private}/{name}", name, src_dir_fd=fd, dst_dir_fd=fd)
        finally:
            shutil.rmtree(private, dir_fd=fd, ignore_errors=True)
    return Path(path)
