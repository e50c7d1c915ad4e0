"""skewsvc: the version-skew drill's service."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("skewsvc")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
