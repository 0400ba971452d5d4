"""Writing the command line's outputs: every file or none, never over an input.

Each output is written to a temporary file in its folder and renamed into place, so a
failure (or Ctrl-C) leaves no partial file behind.
"""

import json
import os
import tempfile


class OutputFileError(ValueError):
    """An output that cannot be written; the message is one line meant for the user."""


def check_output_paths(*paths, inputs=()):
    """Fail before any work when an output could not be written, or would replace an input."""
    for path in paths:
        if path is None:
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise OutputFileError(f"cannot write {path}: no such directory {folder}")
        if os.path.isdir(path):
            raise OutputFileError(f"cannot write {path}: it is a directory")
        for source in inputs:
            if os.path.realpath(path) == os.path.realpath(source) or (
                    os.path.exists(path) and os.path.exists(source)
                    and os.path.samefile(path, source)):
                raise OutputFileError(f"refusing to write {path}: it is the input file")
        # Ask the file system rather than os.access: root, ACLs and read-only mounts all
        # answer differently from the permission bits.
        try:
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".fastbatch-")
        except OSError as exc:
            raise OutputFileError(f"cannot write {path}: {exc.strerror or exc}") from None
        os.close(fd)
        os.unlink(probe)
    named = [os.path.realpath(p) for p in paths if p is not None]
    if len(set(named)) < len(named):
        raise OutputFileError("two outputs name the same file: " + ", ".join(
            str(p) for p in paths if p is not None))


def write_outputs(writers, out):
    """Write every (path, write) pair, or none: a failure removes those already written."""
    written = []
    try:
        for path, write in writers:
            _write_atomically(path, write)
            written.append(path)
            print(f"wrote {path}", file=out)
    except BaseException:
        for path in written:
            os.unlink(path)
        raise


def _write_atomically(path, write):
    """Write via a temporary file in the same folder, renamed into place on success."""
    folder = os.path.dirname(os.path.abspath(path))
    check_output_paths(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".fastbatch-",
                                   suffix=os.path.splitext(path)[1])
        os.close(fd)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def json_writer(data):
    """A `write(path)` function that dumps `data` as indented JSON."""
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
    return write
