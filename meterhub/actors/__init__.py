"""Domain actors that wire the adapters into the runtime."""

from meterhub.actors._heartbeat import HEARTBEAT_TOPIC, Beat, HeartbeatActor

__all__ = ["HEARTBEAT_TOPIC", "Beat", "HeartbeatActor"]
