"""Text environments for cooperative planning: a small protocol, two worlds and frozen suites.
The scripted teams, the episode driver, metrics, the bench and the calibration that play in them
are :mod:`promptopt.planners.scripted`.

Import as ``promptopt.planners.environments``.
"""

from .house import House, make_house
from .household import HouseholdConfig, HouseholdEnv, HouseholdView
from .protocol import Environment, Event, Observation, StepResult, View, event_log_hash
from .suites import SUITES, EpisodeSpec, Suite, generate_suite, load_suite
from .transport import TransportConfig, TransportEnv, TransportView

__all__ = [
    "SUITES",
    "Environment",
    "EpisodeSpec",
    "Event",
    "House",
    "HouseholdConfig",
    "HouseholdEnv",
    "HouseholdView",
    "Observation",
    "StepResult",
    "Suite",
    "TransportConfig",
    "TransportEnv",
    "TransportView",
    "View",
    "event_log_hash",
    "generate_suite",
    "load_suite",
    "make_house",
]
