"""Flows: the runtime model, the YGTC compiler, the engine that walks nodes."""
