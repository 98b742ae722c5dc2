"""edgeseal: chain of custody for IoT sensor data.

The data path, one package per side of the wire:
  firmware_bridge  serial frames from sensor microcontrollers
  agent            gateway daemon: sign, batch, chain, outbox, MQTT
  verifier         back end: verify, check the chain, store, receipts
  native           C core: SHA-256, Merkle trees, Ed25519 verification
This package holds only the command line that ties them together.
"""

__version__ = "0.1.0"
