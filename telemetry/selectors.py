def storage_check() -> None:
    """Raise if the telemetry storage does not answer."""
