"""Inputs: where raw frames come from, before the journal and the pipeline.

See ``docs/architecture.md`` ("Inputs") for the contract an input plugin implements.
"""

from meterhub.adapters.inputs._capture import CaptureFile
from meterhub.adapters.inputs._contract import FrameSink, Input
from meterhub.adapters.inputs._mqtt import MESSAGE_TOPICS, MqttInput
from meterhub.adapters.inputs._stream import StreamInput

__all__ = ["MESSAGE_TOPICS", "CaptureFile", "FrameSink", "Input", "MqttInput", "StreamInput"]
