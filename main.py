"""Plugin entry point: Dify's daemon runs `python -m main` (and so does `make run`)."""

from dify_plugin import DifyPluginEnv, Plugin

from oai_bridge import runtime

plugin = Plugin(DifyPluginEnv())

if __name__ == "__main__":
    # Process tuning (oai_bridge/runtime.py, off with OAI_BRIDGE_TUNING=off) is installed here,
    # before requests arrive. The openai SDK is imported on first use so the plugin reaches the
    # daemon's start-up heartbeat quickly; the warm-up loads it (and makes the request workers)
    # right after, before users' first requests.
    runtime.start(plugin)
    plugin.run()
