"""import-linter contract types that see the whole project, named in ``pyproject.toml`` (``[tool.importlinter]
contract_types``); ``lint-imports``, run from the repository root, imports this module from there.

Why: ``flows/``, ``tasks/`` and ``examples/`` are the packages ``changeflow.flows``, ``changeflow.tasks`` and
``changeflow.examples`` through setuptools ``package-dir`` (``[tool.setuptools.package-dir]``), so they are not
in the ``changeflow`` folder that grimp, import-linter's graph builder, walks. Its graph would hold no flow and
no task, and drop every import of one: a task importing a flow, or the library importing either, would pass
unseen. These types check the built-in contracts on a graph that holds them: grimp's own scan of ``changeflow``
and of each mapped package, read from its folder. Imports under ``if TYPE_CHECKING:`` count, as grimp counts
them unless ``exclude_type_checking_imports`` is set (it is not).
"""

from __future__ import annotations

import copy
import functools
import tomllib
from pathlib import Path

import grimp
from grimp.adaptors.packagefinder import ImportLibPackageFinder
from grimp.application.config import settings as grimp_settings
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def mapped_packages() -> dict[str, Path]:
    """``[tool.setuptools.package-dir]``: each package that lives outside its parent's folder, and its folder."""
    table = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"].get("package-dir", {})
    return {name: PYPROJECT.parent / folder for name, folder in table.items() if name}


class _MappedPackageFinder(ImportLibPackageFinder):
    """Grimp's finder, told where the mapped packages are (it refuses any package that is not top level)."""

    def __init__(self, mapped: dict[str, Path]) -> None:
        self.mapped = mapped

    def determine_package_directories(self, package_name, file_system):
        if package_name in self.mapped:
            return {str(self.mapped[package_name])}
        return super().determine_package_directories(package_name, file_system)


def _flag(options: dict, name: str) -> bool:
    return str(options.get(name, False)).lower() == "true"


@functools.cache
def whole_graph(
    roots: tuple[str, ...], include_external: bool = False, exclude_type_checking: bool = False
) -> grimp.ImportGraph:
    """The import graph of ``roots`` with their mapped packages in it (built once per process)."""
    mapped = {name: folder for name, folder in mapped_packages().items() if name.split(".")[0] in roots}
    previous = grimp_settings.PACKAGE_FINDER
    grimp_settings.configure(PACKAGE_FINDER=_MappedPackageFinder(mapped))
    try:
        return grimp.build_graph(
            *roots,
            *sorted(mapped),
            include_external_packages=include_external,
            exclude_type_checking_imports=exclude_type_checking,
            cache_dir=None,
        )
    finally:
        grimp_settings.configure(PACKAGE_FINDER=previous)


class _SeesMappedPackages:
    def check(self, graph, verbose):
        options = self.session_options
        whole = whole_graph(
            tuple(options["root_packages"]),
            _flag(options, "include_external_packages"),
            _flag(options, "exclude_type_checking_imports"),
        )
        return super().check(copy.deepcopy(whole), verbose)  # contracts may change the graph they are given


class Layers(_SeesMappedPackages, LayersContract):
    """``layers``, on the whole project."""


class Independence(_SeesMappedPackages, IndependenceContract):
    """``independence``, on the whole project."""


class AcyclicSiblings(_SeesMappedPackages, AcyclicSiblingsContract):
    """``acyclic_siblings``, on the whole project."""
