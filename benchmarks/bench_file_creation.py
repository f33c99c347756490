"""What creating a compile's files costs on this filesystem, with no compiler involved.

Why: the many-small-tasks case (`bench_compile.py --tasks-case`: 2,500 tasks, so 5,000
files) spent most of its extra time in the kernel, inside `openat(O_CREAT)`: `strace -T`
gave 5,005 creates = 5.3 s of an 11.7 s write, and `perf record` put 57 % of a plain
create loop's samples in ext4's `find_inode_bit` -> `recently_deleted` (on a filesystem
without a journal, ext4 skips every free inode freed in the last 60-360 s, reading its
inode-table block each time, so each create scans all recent deletions of its block
group). How slow a create is therefore depends on how many files anything on the
machine deleted in the last minutes (test suites, `rm -rf` of earlier outputs), not on
panda-compile. Run this right before or after `bench_compile.py --tasks-case` to see
how much of that run's wall and system time was the filesystem.

    python benchmarks/bench_file_creation.py [--files 5000] [--size 14000] [--dir /tmp/panda-compile-bench]

It writes `--files` files of `--size` bytes into a fresh folder under `--dir` the way
the writer does (open, one write, close; half in `jobs/`, half in `tasks/`), prints one
line (wall, user and system time, per file) and removes the folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time


def create_files(folder: str, count: int, size: int) -> dict[str, float]:
    """Create `count` files of `size` bytes in `folder`/jobs and `folder`/tasks; the costs."""
    for sub in ("jobs", "tasks"):
        os.mkdir(os.path.join(folder, sub))
    data = b"x" * size
    before, start = os.times(), time.perf_counter()
    for number in range(count):
        sub = "jobs" if number % 2 == 0 else "tasks"
        name = f"u_someone_DRP_20250601T000000Z_{number:05d}_isr.json"
        with open(os.path.join(folder, sub, name), "wb") as out:
            out.write(data)
    wall, after = time.perf_counter() - start, os.times()
    return {"wall": wall, "user": after.user - before.user, "sys": after.system - before.system}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5000, help="files to create (2 per task)")
    parser.add_argument("--size", type=int, default=14000, help="bytes per file")
    parser.add_argument("--dir", default="/tmp/panda-compile-bench", help="parent of the scratch folder")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="file-creation-", dir=args.dir)
    try:
        cost = create_files(folder, args.files, args.size)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    per_file = cost["wall"] / max(args.files, 1) * 1e3
    print(
        f"{args.files} files of {args.size} B in {args.dir}: wall {cost['wall']:.2f} s "
        f"(user {cost['user']:.2f}, sys {cost['sys']:.2f}), {per_file:.3f} ms per file"
    )


if __name__ == "__main__":
    main()
