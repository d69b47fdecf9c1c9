"""The acquisition runtime: stream/chunk models, LSL clock and outlets, journal, HDF5 visit file, config, logging.

Nothing here knows about visits' clinical meaning (that is `sessions`), nor about a particular instrument
(that is `drivers`).
"""

from acquisition._version import __version__

__all__ = ["__version__"]
