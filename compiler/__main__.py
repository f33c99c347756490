"""`python -m compiler` is `panda-compile`."""

from .cli import main

main()
