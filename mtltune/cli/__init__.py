"""The ``mtltune`` command line: a thin typer layer over the library.

``app`` holds the commands (each parses its arguments, calls one library function with a typed
result, and prints it through ``output``). Exit codes: 0 ok; 2 invalid study or data (nothing
written); 1 any other failure. ``validate``, ``show``, ``report``, ``trials`` and ``--help``
never import TensorFlow. Nothing else in mtltune imports this package.
"""

from mtltune.cli.app import app, main

__all__ = ["app", "main"]
