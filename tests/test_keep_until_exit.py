"""`keep_until_exit`: a parked object outlives its last reference and is never finalised.

Run in a child interpreter: the call freezes the collector's generations for the rest of
the process, which a pytest session must not inherit.
"""

from __future__ import annotations

import subprocess
import sys

_CHILD = """
import gc, weakref
from compiler.gcpause import keep_until_exit

class Big:
    def __del__(self):
        print("freed")

obj = Big()
ref = weakref.ref(obj)
keep_until_exit(obj)
del obj
gc.collect()
print("alive" if ref() is not None else "gone")
"""


def test_parked_object_survives_its_references_and_the_exit() -> None:
    result = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["alive"]  # and no "freed": not finalised at exit either
