"""``python -m mtltune``."""

from mtltune.cli import main

if __name__ == "__main__":
    main()
