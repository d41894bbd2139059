"""marrowsim: a mechanistic simulator of the bone marrow and of aplastic anemia.

For research and teaching only; never for the care of a patient.
"""

__version__ = "0.1.0"

from marrowsim.engine import Solver
from marrowsim.errors import InputError
from marrowsim.io.sbml import export_scenario as export_sbml
from marrowsim.io.scenario import Scenario, load_scenario
from marrowsim.model import Model
from marrowsim.simulation import Result, simulate

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
]
