"""The raw-frame journal: every frame a meter sends, durable before it is decoded.

Records are numbered by a dense ``seq`` starting at 1. Durable sinks keep their own
cursor (the last seq they fully handled), re-read from it after a crash or outage, and
report it with ``Journal.report_cursor`` so retention knows what may be deleted.
"""

from meterhub.adapters.journal._errors import CorruptRecordError, JournalError
from meterhub.adapters.journal._journal import Journal
from meterhub.adapters.journal._statistics import JournalStatistics

__all__ = ["CorruptRecordError", "Journal", "JournalError", "JournalStatistics"]
