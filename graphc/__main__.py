"""`python -m graphc`: the command-line tools (graphc/cli/main.py)."""
from .cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
