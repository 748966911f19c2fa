"""Plugin entry point: Dify's daemon runs `python -m main` (and so does `make run`)."""

from dify_plugin import DifyPluginEnv, Plugin

plugin = Plugin(DifyPluginEnv())

if __name__ == "__main__":
    plugin.run()
