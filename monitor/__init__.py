"""groundswell: a self-hosted brand reputation monitor.

The core package: configuration, the archive, the brand query language, the pipeline, the CLI.
Collectors live in :mod:`sources`, alert routing and delivery in :mod:`alerts`.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
