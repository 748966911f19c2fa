"""Plugin entry point: Dify's daemon runs `python -m main` (and so does `make run`)."""

import importlib

from dify_plugin import DifyPluginEnv, Plugin
from gevent import spawn_later

plugin = Plugin(DifyPluginEnv())

if __name__ == "__main__":
    # openai is imported on first use (oai_bridge/lazy_openai.py) so the plugin reaches the
    # daemon's start-up heartbeat quickly; load it right after, before users' first requests.
    spawn_later(1.0, importlib.import_module, "openai")
    plugin.run()
