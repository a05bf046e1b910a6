"""Everything that knows about a real Envoy: finding it, configuring it, starting and stopping it.

Only this package starts Envoy processes.
"""
