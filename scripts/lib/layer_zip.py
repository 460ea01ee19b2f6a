#!/usr/bin/env python3
"""Writes a Lambda layer zip reproducibly: the same files give the same bytes, whatever their timestamps,
permission bits on disk, owner, or the order they are given in.

    layer_zip.py OUT.zip ARCHIVE_PATH=SOURCE_FILE:MODE ...

Every entry gets the zip format's earliest timestamp (1980-01-01 00:00), Unix permissions from MODE (0755 for
executables, 0644 otherwise), no owner and no extra fields; parent directories get entries of their own (0755);
entries are sorted by path; data is deflated at level 9 (Python's zlib: part of the inputs).
"""

import stat
import sys
import zipfile

EPOCH = (1980, 1, 1, 0, 0, 0)


def entry(path, mode):
    info = zipfile.ZipInfo(path, date_time=EPOCH)
    info.create_system = 3  # Unix: the mode bits below are honoured when Lambda extracts the layer
    if path.endswith("/"):
        info.external_attr = ((stat.S_IFDIR | mode) << 16) | 0x10  # MS-DOS directory flag
        info.compress_type = zipfile.ZIP_STORED
    else:
        info.external_attr = (stat.S_IFREG | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    out, specs = argv[1], argv[2:]
    files = {}
    for spec in specs:
        target, _, rest = spec.partition("=")
        source, _, mode = rest.rpartition(":")
        if not target or not source or target.startswith("/") or target.endswith("/"):
            sys.exit(f"layer_zip: bad entry {spec!r} (ARCHIVE_PATH=SOURCE_FILE:MODE)")
        files[target] = (source, int(mode, 8))
    dirs = {target[: i + 1] for target in files for i, c in enumerate(target) if c == "/"}
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(dirs | set(files)):
            if path in dirs:
                archive.writestr(entry(path, 0o755), b"")
                continue
            source, mode = files[path]
            with open(source, "rb") as f:
                archive.writestr(entry(path, mode), f.read(), compresslevel=9)


if __name__ == "__main__":
    main(sys.argv)
