"""Component invocation: the ComponentInvoker protocol, mocks and WebAssembly."""
