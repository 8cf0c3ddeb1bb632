"""Choosing the flow for an activity: explicit ids, flow types, fast2flow, welcome flows."""
