"""Integration status codes, shared by the engine and the result."""

STATUS_MESSAGES = {0: "ok", 1: "too many steps", 2: "step size underflow", 3: "ended by event"}
STATUS_ENDED_BY_EVENT = 3
