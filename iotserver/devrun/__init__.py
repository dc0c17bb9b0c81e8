"""``make run``: the whole system in one terminal (see ``python -m iotserver.devrun``)."""
