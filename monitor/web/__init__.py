"""The review web UI: a server-rendered inbox, detail pages, dashboards and actions.

Import :func:`monitor.web.app.create_app` to build the Starlette application; this package
itself imports nothing heavy so that the command line starts fast.
"""

__all__: list[str] = []
