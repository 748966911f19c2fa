"""Plugin entry point: Dify's daemon runs `python -m main` (and so does `make run`)."""

from dify_plugin import DifyPluginEnv, Plugin
from gevent import spawn_later

from oai_bridge.runtime import warm_up

plugin = Plugin(DifyPluginEnv())

if __name__ == "__main__":
    # The openai SDK is imported on first use so the plugin reaches the daemon's start-up
    # heartbeat quickly; load it (and make the request workers) right after, before users'
    # first requests.
    spawn_later(1.0, warm_up, plugin)
    plugin.run()
