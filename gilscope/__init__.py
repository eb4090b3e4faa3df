"""gilscope: watch the CPython GIL being passed between threads, live."""

__version__ = "0.1.0"
