"""``edgeseal demo``: the whole chain of custody on one machine, for a while.

It starts, each as a real process where the product runs one:

1. an MQTT broker on a free 127.0.0.1 port: mosquitto when it is installed,
   otherwise an embedded pure-Python broker (amqtt, MQTT 3.1.1, the ``demo``
   extra) running in this process, and it says which;
2. two simulated sensor devices on pseudo-terminals (``edgeseal simulate-device``);
3. the gateway agent (``edgeseal agent``) reading both, signing, batching, chaining
   and publishing;
4. the verifier (``edgeseal verifier``) checking and storing every batch.

Configuration files and keys are generated in a temporary directory. While it
runs it shows readings signed, batches published and batches verified; after
``--seconds`` it stops the devices, lets the agent flush and the verifier catch
up, prints a summary, and writes and checks the receipt of one reading
(``edgeseal receipt`` / ``edgeseal check-receipt``). Every process it started is
stopped on the way out, also on Ctrl-C or SIGTERM; children also get SIGTERM from
the kernel if this process dies without cleaning up (PR_SET_PDEATHSIG).

Exit status: 0 when batches were verified, none was quarantined and the receipt
checked out; 1 otherwise; 2 when the demo could not start; 130 after Ctrl-C.

One module per job, in the order a run uses them: ``settings`` (options),
``brokers``, ``processes`` (children, parent-death signal), ``configs`` (the
agent's and verifier's TOML), ``watcher`` (what reaches the broker), ``metrics``
(the agent's counters), ``display`` (the live line), ``winddown``, ``receipt``,
``summary``; ``session`` runs them top to bottom. ``edgeseal.cli`` needs only
``configure`` and ``run``.
"""

from __future__ import annotations

from edgeseal.demo.brokers import EmbeddedBroker, choose_broker
from edgeseal.demo.errors import DemoError
from edgeseal.demo.session import run
from edgeseal.demo.settings import DemoSettings, configure

__all__ = ["DemoError", "DemoSettings", "EmbeddedBroker", "choose_broker", "configure", "run"]
