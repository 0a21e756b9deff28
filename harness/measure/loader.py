"""Loading scenario modules: by dotted name or from a ``.py`` file (or package) anywhere.

Importing a module is what registers its operations (:func:`dalperf.measure.registry.register`);
:func:`operations_of` then picks out the operations those modules registered.  A module that
fails to import, ``sys.exit`` included, is a :class:`~dalperf.errors.UsageError`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from dalperf.errors import UsageError, describe
from dalperf.measure.operations import Operation
from dalperf.measure.registry import REGISTRY, Registry


def operations_of(
    modules: Iterable[ModuleType], registry: Registry = REGISTRY, only: Iterable[str] | None = None
) -> list[Operation]:
    """The operations of ``registry`` that ``modules`` (or their submodules) registered, those
    ``only`` names (operations or areas; an unknown name is a UsageError)."""
    names = [m.__name__ for m in modules]
    return [
        op
        for op in registry.select(only)
        if any(op.module == n or op.module.startswith(n + ".") for n in names)
    ]


def load_modules(specs: Iterable[str]) -> list[ModuleType]:
    """Import each dotted module name or ``.py`` path; its operations register themselves."""
    return [load_module(spec) for spec in specs]


def load_module(spec: str) -> ModuleType:
    """Import ``spec`` (``package.module``, a path to a ``.py`` file or to a package's
    folder) once.

    Any failure, a syntax error in the file included, becomes a :class:`UsageError`
    whose message shows the original error.
    """
    is_path = spec.endswith(".py") or "/" in spec or "\\" in spec
    try:
        return _import_path(Path(spec)) if is_path else importlib.import_module(spec)
    except UsageError:
        raise
    except (Exception, SystemExit) as exc:  # whatever the user's module raises, exit too
        raise UsageError(f"cannot load scenarios from {spec!r}: {describe(exc)}") from exc


def _import_path(path: Path) -> ModuleType:
    """The module at ``path`` (a ``.py`` file, or a folder with ``__init__.py``) under a name
    made from its absolute path, so that two copies of one file are two modules; a
    package's relative imports find its own folder's modules."""
    path = path.expanduser().resolve()
    package = path.is_dir() and (path / "__init__.py").is_file()
    if not (path.is_file() or package):
        raise UsageError(f"cannot load scenarios from {str(path)!r}: no such file")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"dalperf_scenarios_{stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = (
        importlib.util.spec_from_file_location(
            name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
        if package
        else importlib.util.spec_from_file_location(name, path)
    )
    if module_spec is None or module_spec.loader is None:
        raise UsageError(f"cannot load scenarios from {str(path)!r}: not a Python module")
    module = importlib.util.module_from_spec(module_spec)
    if str(path.parent) not in sys.path:  # the file's own helpers import beside it
        sys.path.insert(0, str(path.parent))
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
