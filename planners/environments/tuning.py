"""Every tuned duration and cost of the text worlds, in one place.

These numbers were calibrated on the dev100 suite (see tests/planners/test_calibration.py) so that
the scripted baselines land where the CaPo spec asks: greedy single agent 0.45-0.55 transport rate,
two greedy agents without communication 0.60-0.70, the oracle team >= 0.95, and skipping
containers in "rare" episodes costs >= 15 points (measured with the full-information team; for the
single greedy agent it costs about 11 points, because finding objects, not carrying them, is its
bottleneck). Change one, rerun that test. Values on dev100 at these settings: greedy 0.494,
greedy pair 0.633, claims pair 0.856, oracle 0.978, rare container cost oracle 0.184 / greedy 0.108.

The two strongest levers: DROP_TICKS (a fixed cost per bed trip: how much containers are worth)
and GRASP_FAIL_TICKS (the price of a stale belief: how much uncoordinated teammates lose).
"""

from __future__ import annotations

# --- transport world (ticks) ---
#: Mean ticks to walk through one door to the adjacent room (each door gets 0.8x-1.25x of it).
TICKS_PER_DOOR = 60
#: Searching a room for the objects not visible from the door.
EXPLORE_TICKS = 50
#: Walking to an object inside the current room and picking it up.
GRASP_TICKS = 30
#: Extra ticks a grasp costs when the object is gone (the agent searches the room for it first):
#: the price of stale beliefs, paid by teams that do not coordinate.
GRASP_FAIL_TICKS = 1050
#: Putting a held object into the held container.
PUT_TICKS = 20
#: Reaching the bed inside the Bedroom and unloading: a fixed cost per bed trip, which is what
#: makes carrying 4 objects (container + hand) instead of 2 worth the detour to a container.
DROP_TICKS = 850
#: A ``wait``.
WAIT_TICKS = 20
#: Cost of an action that could not even start (unparseable, impossible): the agent hesitates.
INVALID_ACTION_TICKS = 5
#: Targets are spread over this many rooms (min, max): clusters make containers worth fetching.
TARGET_ROOMS = (3, 4)
#: Chance that an object is visible from a room's door (otherwise only ``explore`` finds it).
P_IN_VIEW = 0.3
#: Same for containers (large, usually visible from the door).
P_CONTAINER_IN_VIEW = 0.8
#: ``tdw`` communication policy: the sender pays 1 tick plus 1 per this many characters.
TDW_CHARS_PER_TICK = 500
#: ``meeting`` communication policy: ticks every participant is blocked per discussion round.
MEETING_TICKS_PER_ROUND = 30

#: All agents start in the same room (as TDW-MAT agents spawn together); uncoordinated agents
#: then duplicate each other's work, which is what communication is for.
SAME_START_ROOM = True

# --- household world (steps) ---
#: Steps to walk through one door in the household world.
HOUSEHOLD_STEPS_PER_DOOR = 2
#: Steps to search a room in the household world.
HOUSEHOLD_EXPLORE_STEPS = 3
