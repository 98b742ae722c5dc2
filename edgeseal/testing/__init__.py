"""Test scaffolding, not runtime code: a private mosquitto on a free loopback port
(``broker``) and simulated sensor devices on real pseudo-terminals (``devices``).

For the test suite, the benchmarks and ``edgeseal demo``. No runtime module (wire,
native, plumbing, firmware_bridge, agent, verifier, the CLI) imports it; inside the
package only the demo does, and tests/test_import_layers.py keeps it that way.
"""
