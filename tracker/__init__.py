"""pNET active-surveillance tracker: log, schedule, flag, plot.

Decision support only: a flag means "discuss at the NET tumour board", never "treat".
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
