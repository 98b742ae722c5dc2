"""Plumbing the agent and the verifier share, below both of them.

``metrics_http``: Prometheus metrics in a private registry, served on 127.0.0.1;
``sqlite_tx``: the one SQLite write transaction (rolled back whenever it fails);
``config_toml``: TOML files read key by key, with one ``ConfigError`` and one wording;
``mqtt_settings``: the shared ``[mqtt]`` connection settings, their parser, and the one
function that applies them to a paho client. Imports nothing of edgeseal but itself.
"""
