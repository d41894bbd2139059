"""marrowsim: a mechanistic simulator of the bone marrow and of aplastic anemia.

For research and teaching only; never for the care of a patient.

The public names are imported on first use (PEP 562), so ``import marrowsim``
and the command line load only what a command needs; ``marrowsim.simulate``,
``from marrowsim import Result`` and ``marrowsim.engine`` work as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from marrowsim._version import __version__

if TYPE_CHECKING:
    from marrowsim.engine import Solver
    from marrowsim.errors import InputError
    from marrowsim.io.sbml import export_scenario as export_sbml
    from marrowsim.io.scenario import Scenario, load_scenario
    from marrowsim.model import Model
    from marrowsim.result import Result
    from marrowsim.simulation import simulate
    from marrowsim.validation import validate

# public name -> (module, attribute)
_LAZY = {
    "InputError": ("marrowsim.errors", "InputError"),
    "Model": ("marrowsim.model", "Model"),
    "Result": ("marrowsim.result", "Result"),
    "Scenario": ("marrowsim.io.scenario", "Scenario"),
    "Solver": ("marrowsim.engine", "Solver"),
    "export_sbml": ("marrowsim.io.sbml", "export_scenario"),
    "load_scenario": ("marrowsim.io.scenario", "load_scenario"),
    "simulate": ("marrowsim.simulation", "simulate"),
    "validate": ("marrowsim.validation", "validate"),
}

__all__ = [
    "InputError",
    "Model",
    "Result",
    "Scenario",
    "Solver",
    "__version__",
    "export_sbml",
    "load_scenario",
    "simulate",
    "validate",
]


if not TYPE_CHECKING:  # type checkers see the imports above, so typos stay errors

    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            module, attribute = _LAZY[name]
            value = getattr(importlib.import_module(module), attribute)
        else:
            try:  # a subpackage or module: marrowsim.engine, marrowsim.simulation, ...
                value = importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as error:
                if error.name != f"{__name__}.{name}":
                    raise
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
