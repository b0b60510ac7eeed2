"""Alerting: rules → routing tree → grouping → silences/inhibition → outbox → channels.

Risk events (:class:`monitor.events.RiskEvent`) become alert threads that people acknowledge and
resolve; every notification goes through a persistent outbox before it reaches a channel.
"""

__all__: list[str] = []
