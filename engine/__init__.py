"""The generic workflow runtime: definitions, firing, audit, deadlines, timers and access.

It knows nothing of any particular aid programme; workflows/ declares those against it.
"""
