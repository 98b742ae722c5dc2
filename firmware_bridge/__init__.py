"""The serial link between sensor microcontrollers and the gateway.

Wire format and reliability rules: docs/serial-protocol.md. Modules, in the
order data flows through them on the gateway:

  cobs, crc       byte stuffing and CRC-32C
  frame           frame layout, encoder, streaming decoder
  protocol        typed messages (HELLO, READING, ACK, RESEND, HEARTBEAT, TIME)
  auth            optional HMAC frame authentication with replay protection
  tracker         exactly-once, in-order delivery and gap detection (no I/O)
  link            DeviceLinks: one reader thread per serial port, events to the agent
  messages        Reading and the link events (the agent's contract)

Device side: the C reference in ``c/`` (cffi module ``_fbcore``, bound in
``core``), driven by the simulator (``simulate``, ``edgeseal simulate-device``);
``testing`` runs that simulator as a subprocess for tests.
"""
