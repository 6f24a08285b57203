"""User-facing interfaces: the ``planner`` command line and (later) the HTTP service.

Thin by design: validation, persistence and presentation; every computation is delegated to
:mod:`planner`, every read/write of data to :mod:`geodata`, every map to :mod:`maps`.
"""
