"""Scale-out: the pipeline's stages as jobs on a PostgreSQL-backed queue (procrastinate).

``groundswell run`` with ``queue = "postgresql://..."`` in the config enqueues its timetable's
jobs instead of running them; ``groundswell worker`` processes run them, on any number of
machines. See docs/scaling.md. Import the submodules directly: :mod:`monitor.workers.settings`
is light (the config parser loads it), the others import the queue engine.
"""

__all__: list[str] = []
