"""The terminal lifecycle as a transition table (the single source of truth).

Every allowed (state, event) pair maps to the next state; anything else is a bug in the
caller and raises :class:`InvalidTransitionError`. ``mermaid_diagram()`` renders the table for
docs/architecture.md.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "TRANSITIONS",
    "Event",
    "InvalidTransitionError",
    "State",
    "TerminalMachine",
    "mermaid_diagram",
]


class State(StrEnum):
    OFFLINE = "OFFLINE"
    SIGNING_ON = "SIGNING_ON"
    IDLE = "IDLE"
    AWAITING_RESPONSE = "AWAITING_RESPONSE"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    TIMED_OUT = "TIMED_OUT"
    REVERSAL_PENDING = "REVERSAL_PENDING"


class Event(StrEnum):
    CONNECTED = "connected"
    SIGN_ON_ACCEPTED = "sign-on accepted"
    SIGN_ON_REFUSED = "sign-on refused"
    REQUEST_SENT = "0100/0200 sent"
    APPROVAL_RECEIVED = "0110/0210 approved"
    DECLINE_RECEIVED = "0110/0210 declined"
    RESPONSE_TIMEOUT = "response timeout"
    REVERSAL_SENT = "0420 sent"
    REVERSAL_ACKNOWLEDGED = "0430 received"
    REVERSAL_ABANDONED = "0420 unanswered: kept for store-and-forward"
    RECEIPT_DONE = "receipt printed"
    DISCONNECTED = "disconnected"


TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.OFFLINE, Event.CONNECTED): State.SIGNING_ON,
    (State.SIGNING_ON, Event.SIGN_ON_ACCEPTED): State.IDLE,
    (State.SIGNING_ON, Event.SIGN_ON_REFUSED): State.OFFLINE,
    (State.IDLE, Event.REQUEST_SENT): State.AWAITING_RESPONSE,
    (State.AWAITING_RESPONSE, Event.APPROVAL_RECEIVED): State.APPROVED,
    (State.AWAITING_RESPONSE, Event.DECLINE_RECEIVED): State.DECLINED,
    (State.AWAITING_RESPONSE, Event.RESPONSE_TIMEOUT): State.TIMED_OUT,
    (State.TIMED_OUT, Event.REVERSAL_SENT): State.REVERSAL_PENDING,
    # A pre-authorization the merchant cancels is reversed from idle.
    (State.IDLE, Event.REVERSAL_SENT): State.REVERSAL_PENDING,
    (State.REVERSAL_PENDING, Event.REVERSAL_ACKNOWLEDGED): State.IDLE,
    (State.REVERSAL_PENDING, Event.REVERSAL_ABANDONED): State.IDLE,
    (State.APPROVED, Event.RECEIPT_DONE): State.IDLE,
    (State.DECLINED, Event.RECEIPT_DONE): State.IDLE,
}
# A terminal can lose its connection in any state.
TRANSITIONS.update({(state, Event.DISCONNECTED): State.OFFLINE for state in State})


class InvalidTransitionError(RuntimeError):
    """An event that the current state does not allow."""


class TerminalMachine:
    """Holds the current state of one terminal and applies events from :data:`TRANSITIONS`."""

    def __init__(self, tid: str, state: State = State.OFFLINE) -> None:
        self.tid = tid
        self.state = state

    def handle(self, event: Event) -> State:
        """Apply ``event``; return the new state."""
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise InvalidTransitionError(
                f"terminal {self.tid}: event {event.value!r} is not allowed in {self.state}"
            ) from None
        return self.state

    def __repr__(self) -> str:
        return f"<TerminalMachine {self.tid} {self.state}>"


def mermaid_diagram() -> str:
    """The transition table as a Mermaid state diagram (DISCONNECTED edges folded into a note)."""
    lines = ["stateDiagram-v2", "    [*] --> OFFLINE"]
    for (source, event), target in TRANSITIONS.items():
        if event is Event.DISCONNECTED:
            continue
        lines.append(f"    {source} --> {target}: {event.value}")
    lines.append("    note right of OFFLINE: any state --> OFFLINE on disconnect")
    return "\n".join(lines)
