__version__ = "5.3.1"
