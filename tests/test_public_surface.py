"""The library's surface (``changeflow.__all__``), loaded on first use: every name resolves to what it says,
the kinds are bound into ``ChangeRequest`` before any of them, and ``bootstrap`` stays the function even once
its submodule has been imported. In a fresh process each, since this suite's own imports load everything."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.cli


def fresh(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_every_public_name_resolves_and_the_kinds_load_first():
    shown = fresh(
        "import sys, changeflow\n"
        "print('changeflow.kinds' in sys.modules)\n"
        "names = [n for n in changeflow.__all__ if n != '__version__']\n"
        "missing = [n for n in names if getattr(changeflow, n, None) is None]\n"
        "print(missing, 'changeflow.kinds' in sys.modules)\n"
        "print(sorted(changeflow.ChangeRequest.model_json_schema()['properties']['change']['discriminator']['mapping']))"
    )
    assert shown.splitlines() == [
        "False",  # importing the package loads no kind, numpy or tritonclient
        "[] True",
        "['blue_green', 'config_change', 'model_deployment', 'triton_upgrade']",
    ]


def test_bootstrap_is_the_function_even_after_its_module_is_imported():
    assert fresh("import changeflow.bootstrap\nfrom changeflow import bootstrap\nprint(callable(bootstrap))") == "True"
