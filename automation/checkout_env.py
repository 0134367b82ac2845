"""Lets the playbook's entry points run from a checkout with whichever `python3` is on the PATH: a Python
without the suite's dependencies hands over to the checkout's `.venv` (made by `make install`/`make run`),
and a checkout whose package is not installed is imported from `src/`."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def use_checkout(script: str) -> None:
    try:
        import typer  # noqa: F401
    except ImportError:
        venv_python = ROOT / ".venv" / "bin" / "python"
        if venv_python.exists() and Path(sys.prefix).resolve() != venv_python.parents[1].resolve():
            os.execv(str(venv_python), [str(venv_python), script, *sys.argv[1:]])
        sys.exit("The suite's dependencies are not installed; run `make install` in the repository first.")
    try:
        import rentguy_crm  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(ROOT / "src"))
