"""Event passing: CloudEvents envelope, transactional outbox, JetStream relay, inbox consumers."""

from shared.events.bus import EventBus
from shared.events.consumer import EventConsumer, EventHandlers
from shared.events.envelope import CloudEvent, new_event

__all__ = ["CloudEvent", "EventBus", "EventConsumer", "EventHandlers", "new_event"]
