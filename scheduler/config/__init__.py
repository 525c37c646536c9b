"""Schedule files: YAML in, checked ``Schedule`` values out, every problem reported.

We compose the YAML into nodes (which carry line and column) with PyYAML's safe loader
and build values ourselves, so that nothing but plain scalars, lists and mappings is
ever constructed, and every message can say ``path:line:column`` and which field.
The only package of sched that imports yaml.

``nodes`` (YAML nodes to plain values) <- ``fields`` (one parser per key) <- ``build``
(a Schedule from its fields and the defaults) <- ``files`` (paths, files, ``load``).
"""

from scheduler.config.build import MAX_ARGS_BYTES
from scheduler.config.files import (
    MAX_FILE_BYTES,
    LoadedSchedules,
    celery_warnings,
    check_imports,
    load,
    schedule_files,
)
from scheduler.config.nodes import MAX_NODES
from scheduler.errors import PathError

__all__ = [
    "MAX_ARGS_BYTES",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "LoadedSchedules",
    "PathError",
    "celery_warnings",
    "check_imports",
    "load",
    "schedule_files",
]
