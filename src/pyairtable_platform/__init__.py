"""PyAirtable Platform: work with Airtable bases through AI."""

__version__ = "0.1.0"
