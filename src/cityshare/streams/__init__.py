"""Live sensor data: devices and their keys, datastreams, signed ingestion, observations."""
