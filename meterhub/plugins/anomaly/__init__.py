"""Anomaly detection: robust statistics per meter and metric (a built-in plugin).

Registered as ``anomaly`` in ``meterhub.processors``; configured by ``[plugins.anomaly]``.
"""

from meterhub.plugins.anomaly._detector import AnomalyDetector, Finding
from meterhub.plugins.anomaly._plugin import AnomalyProcessor
from meterhub.plugins.anomaly._settings import AnomalySettings

__all__ = ["AnomalyDetector", "AnomalyProcessor", "AnomalySettings", "Finding"]
